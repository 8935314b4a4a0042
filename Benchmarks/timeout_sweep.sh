#!/usr/bin/env bash
# Pending-timeout sweep: a private PostgreSQL (durable defaults) and Redis, a release `manager serve` with no agent
# (so sessions stay PENDING), and Benchmarks/timeout_sweep.py: SESSIONS sessions queued, then pending_timeout set.
#
# usage: Benchmarks/timeout_sweep.sh [SESSIONS=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
SESSIONS=${1:-10000}
bench_setup sweep-bench
bench_database
bench_config <<TOML
[scheduler]
tick_interval = "1s"
TOML
bench_serve
log "queueing $SESSIONS sessions, then setting pending_timeout"
.venv/bin/python Benchmarks/timeout_sweep.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --psql "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench" --sessions "$SESSIONS" --tick 1 --json "$BENCH_JSON"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^manager_scheduler_pass_duration_seconds_(sum|count)' || true
