#!/usr/bin/env bash
# CPU of an idle daemon with a backlog nothing can start (issue 21's "no pass for an unchanged queue"): a private
# PostgreSQL and Redis, a release `manager serve` with no agent, BACKLOG sessions enqueued by the native load
# generator, SETTLE seconds for their wake-ups' passes, then the manager's CPU (utime + stime from /proc) over
# WINDOW seconds, and how many passes ran and were skipped meanwhile (/metrics).
#
# IDLE_PASS_INTERVAL sets scheduler.idle_pass_interval (30 s; "1s" passes every tick: the behaviour before).
#
# usage: [BACKLOG=10000] [SETTLE=10] [WINDOW=60] [IDLE_PASS_INTERVAL=30s] Benchmarks/idle_backlog.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
BACKLOG=${BACKLOG:-10000}
bench_setup idle-backlog-bench
bench_database
printf '[scheduler]\nidle_pass_interval = "%s"\n' "${IDLE_PASS_INTERVAL:-30s}" | bench_config
bench_serve
log "enqueueing a backlog of $BACKLOG sessions (no agent: every one waits)"
bench_load enqueue "$BACKLOG" 32 "$WORK/enqueue.json" >/dev/null
sleep "${SETTLE:-10}"
metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$MANAGER/stat; }
passes_before=$(metric manager_scheduler_pass_duration_seconds_count)
skipped_before=$(metric manager_scheduler_passes_skipped_total)
ticks_before=$(cpu_ticks)
sleep "${WINDOW:-60}"
ticks_after=$(cpu_ticks)
passes_after=$(metric manager_scheduler_pass_duration_seconds_count)
skipped_after=$(metric manager_scheduler_passes_skipped_total)
python3 - "$BENCH_JSON" "$BACKLOG" "${WINDOW:-60}" "$(getconf CLK_TCK)" "$ticks_before" "$ticks_after" \
  "$passes_before" "$passes_after" "$skipped_before" "$skipped_after" <<'PY'
import json, sys
out, backlog, window, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t0, t1, p0, p1, s0, s1 = (float(x or 0) for x in sys.argv[5:11])
result = {"backlog": backlog, "window_s": window, "manager_cpu_percent_of_a_core": round((t1 - t0) / hz / window * 100, 2),
          "passes": int(p1 - p0), "passes_skipped": int(s1 - s0)}
print(f"idle with a backlog of {backlog}: manager {result['manager_cpu_percent_of_a_core']} % of a core over {window:g} s; "
      f"{result['passes']} passes, {result['passes_skipped']} skipped")
json.dump(result, open(out, "w"), indent=2)
PY
