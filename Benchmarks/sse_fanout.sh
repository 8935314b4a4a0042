#!/usr/bin/env bash
# Background-task SSE fan-out and memory: a private PostgreSQL and Redis, a release `manager serve` with a volume,
# and Benchmarks/sse_fanout.py holding SUBSCRIBERS streams on one clone. Two phases, each on a fresh manager:
# idle (clone_rate_limit 1 KiB/s: an event every few seconds) and busy (640 KiB/s: about ten events a second).
#
# usage: [SUBSCRIBERS=5000] [SECONDS_WINDOW=20] [PHASES="idle busy"] [FILE_MIB=64] Benchmarks/sse_fanout.sh
# With one phase its JSON goes to BENCH_JSON; with several, to BENCH_JSON with -PHASE before .json.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
bench_setup sse-bench
ulimit -n "$(ulimit -Hn)"
for PHASE in ${PHASES:-idle busy}; do
  RATE=$([ "$PHASE" = idle ] && echo 1k || echo 640k)
  bench_database
  rm -rf "$WORK/volume1"; mkdir -p "$WORK/volume1"
  bench_config <<TOML
[storage]
default_host = "local:volume1"
clone_rate_limit = "$RATE"
[storage.volumes.volume1]
path = "$WORK/volume1"
TOML
  bench_serve
  log "phase $PHASE: clone_rate_limit $RATE, ${SUBSCRIBERS:-5000} subscribers"
  .venv/bin/python Benchmarks/sse_fanout.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
    --volume "$WORK/volume1" --psql "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench" --pid "$MANAGER" \
    --subscribers "${SUBSCRIBERS:-5000}" --seconds "${SECONDS_WINDOW:-20}" --file-mib "${FILE_MIB:-64}" \
    --json "$([ "${PHASES:-idle busy}" = "$PHASE" ] && echo "$BENCH_JSON" || echo "${BENCH_JSON%.json}-$PHASE.json")"
  bench_stop_manager
done
