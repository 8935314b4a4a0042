#!/usr/bin/env bash
# POST /session (enqueueOnly) throughput and latency: a private PostgreSQL (durable defaults) and Redis, a release
# `manager serve` with no agent, and Benchmarks/api_latency.py sending SESSIONS signed requests at CONCURRENCY.
#
# usage: Benchmarks/enqueue_latency.sh [SESSIONS=20000] [CONCURRENCY=32]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
SESSIONS=${1:-20000}
CONCURRENCY=${2:-32}
bench_setup enqueue-bench
bench_database
bench_config </dev/null
bench_serve
log "enqueueing $SESSIONS sessions at concurrency $CONCURRENCY"
.venv/bin/python Benchmarks/api_latency.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --phases enqueue --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --json "$BENCH_JSON"
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
