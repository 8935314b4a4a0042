#!/usr/bin/env bash
# Idle footprint: a private PostgreSQL and Redis, then RUNS starts of a release `manager serve` (migrated database,
# local process agent on, as a new user runs it), each timed from the exec to the first 200 from /health (polled
# every 10 ms), and its RSS read after SETTLE seconds with no load.
#
# usage: [RUNS=5] [SETTLE=5] Benchmarks/idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
bench_setup idle-bench
bench_database
mkdir -p "$WORK/agent" "$WORK/volume1"
bench_config <<TOML
[agent.local]
work_dir = "$WORK/agent"
[storage.volumes.volume1]
path = "$WORK/volume1"
TOML
$MANAGER_BIN migrate --config "$WORK/manager.toml" 2>/dev/null
STARTS=(); RSS=()
for run in $(seq "${RUNS:-5}"); do
  started=$(date +%s%N)
  $MANAGER_BIN serve --config "$WORK/manager.toml" >"$WORK/manager.log" 2>&1 &
  MANAGER=$!
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
    kill -0 "$MANAGER" 2>/dev/null || { cat "$WORK/manager.log" >&2; exit 1; }
    sleep 0.01
  done
  STARTS+=($(( ($(date +%s%N) - started) / 1000000 )))
  sleep "${SETTLE:-5}"
  RSS+=($(awk '/VmRSS/ {print $2}' /proc/$MANAGER/status))
  bench_stop_manager
  log "run $run: start to 200 /health ${STARTS[-1]} ms, RSS after ${SETTLE:-5} s ${RSS[-1]} KiB"
done
python3 - "$BENCH_JSON" "${STARTS[*]}" "${RSS[*]}" <<'PY'
import json, statistics, sys
out, starts, rss = sys.argv[1], [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
result = {"runs": len(starts), "start_to_health_ms": starts, "start_to_health_median_ms": statistics.median(starts),
          "rss_kib": rss, "rss_median_mib": round(statistics.median(rss) / 1024, 1)}
print(json.dumps(result, indent=2))
json.dump(result, open(out, "w"), indent=2)
PY
