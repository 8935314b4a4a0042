#!/usr/bin/env bash
# Dependency chain: a private PostgreSQL (durable defaults) and Redis, a release `manager serve` without its local
# agent, LINKS chained sessions queued, then one agent joining (simulated by default: `manager agent --simulate`, the
# manager's own latency; REAL=1 runs the process agent, so each link also starts and reaps a real `true`).
#
# usage: [REAL=1] Benchmarks/chain_latency.sh [LINKS=200]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
LINKS=${1:-200}
bench_setup chain-bench
bench_on_exit 'pkill -TERM -f -- "--work-dir $WORK/agents"; sleep 1'
bench_database
bench_config <<TOML
[agent]
secret = "bench-secret"
TOML
bench_serve
SIMULATE=$([ "${REAL:-0}" = 1 ] && echo "" || echo "--simulate")
AGENT_CMD="$MANAGER_BIN agent --manager http://127.0.0.1:$PORT --secret bench-secret --id chain --cpu 4 --mem 16g \
  --work-dir $WORK/agents --log-level warning $SIMULATE >$WORK/agent.log 2>&1"
log "queueing a chain of $LINKS sessions (agent: ${SIMULATE:-process})"
.venv/bin/python Benchmarks/chain_latency.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --psql "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench" --links "$LINKS" --after-enqueue "$AGENT_CMD" --json "$BENCH_JSON"
