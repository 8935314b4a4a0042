#!/usr/bin/env bash
# Scheduling throughput end to end: a private PostgreSQL (durable defaults) and Redis, a release `manager serve`
# without its local agent, one `manager agent --instances 100` process (100 agents, 4 cpu / 16 GiB each), and
# Benchmarks/scheduler_throughput.py enqueueing N instant batch sessions through the API.
#
# usage: [AGENT_CPU=4] [AGENTS=100] Benchmarks/scheduler_throughput.sh [SESSIONS=10000] [CONCURRENCY=32]
# AGENT_CPU sets each agent's cpu slots (sessions ask for 1): 4 makes free slots the limit, 100 takes it away.
# DRAIN=1 starts the agents only after every session is enqueued (measures scheduling without the enqueue rate).
# SIMULATE=1 runs the agents with --simulate: no processes, reports at once (measures the manager alone).
# AGENT_ARGS adds flags to `manager agent`, e.g. "--sandbox none --allow-unsandboxed-root" to measure without the sandbox.
# START_COST=1 runs the agents at log level info and prints the median and p90 of each start (start_ms: folder,
# cgroups, sandbox and network until the command runs), from the agents' own log. PACE=0.25 makes each enqueuer
# wait that long after each session (with CONCURRENCY 1: one start at a time on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
SESSIONS=${1:-10000}
CONCURRENCY=${2:-32}
AGENT_CPU=${AGENT_CPU:-4}
AGENTS=${AGENTS:-100}
bench_setup sched-bench -c max_connections=200
bench_on_exit 'pkill -TERM -f -- "--work-dir $WORK/agents"; sleep 1'
bench_database
PSQL="psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench"
DB_POOL=16 bench_config <<TOML
[agent]
secret = "bench-secret"
TOML
bench_serve
AGENTS_CMD="$MANAGER_BIN agent --manager http://127.0.0.1:$PORT --secret bench-secret --id bench --instances $AGENTS \
  --cpu $AGENT_CPU --mem 1000g --work-dir $WORK/agents --log-level $([ "${START_COST:-0}" = 1 ] && echo info || echo warning) ${SIMULATE:+--simulate} ${AGENT_ARGS:-} >$WORK/agents.log 2>&1"
AFTER=()
if [ "${DRAIN:-0}" = 1 ]; then
  AFTER=(--after-enqueue "$AGENTS_CMD")
else
  bash -c "$AGENTS_CMD" &
  for _ in $(seq 100); do
    [ "$($PSQL -Atc "SELECT count(*) FROM agents WHERE status = 'ALIVE'" 2>/dev/null || echo 0)" = "$AGENTS" ] && break
    sleep 0.2
  done
fi
log "enqueueing $SESSIONS sessions at concurrency $CONCURRENCY (agents: $AGENTS × $AGENT_CPU cpu, drain=${DRAIN:-0})"
.venv/bin/python Benchmarks/scheduler_throughput.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" \
  --secret-key "$SK" --psql "$PSQL" --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --pace "${PACE:-0}" --json "$BENCH_JSON" "${AFTER[@]}"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^manager_scheduler_pass_duration_seconds_(sum|count)|^manager_scheduler_sessions_scheduled_total' || true
log "manager log: $(grep -ci 'timed out\|timeout' "$WORK/manager.log" || true) timeout lines, $(grep -c 'LOST\|lost' "$WORK/manager.log" || true) lines about lost agents"
if [ "${START_COST:-0}" = 1 ]; then
  grep -m5 "start_steps" "$WORK/agents.log" | grep -o "start_steps=.*" || true
  grep -o 'start_ms=[0-9.]*' "$WORK/agents.log" | cut -d= -f2 | sort -n | awk '{ v[NR] = $1 } END {
    p = int(NR * 0.9); if (p < 1) p = 1
    if (NR) printf "start cost: %d starts, median %.2f ms, p90 %.2f ms, max %.2f ms\n", NR, v[int((NR + 1) / 2)], v[p], v[NR] }'
fi
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
