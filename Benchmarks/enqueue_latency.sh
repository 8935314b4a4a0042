#!/usr/bin/env bash
# POST /session (enqueueOnly) throughput and latency: a private PostgreSQL (durable defaults) and Redis, a release
# `manager serve` with no agent, and the native load generator (`bench_load`; GENERATOR=python: api_latency.py)
# sending SESSIONS signed requests at CONCURRENCY, closed loop, or open loop at RATE requests per second.
#
# usage: [RATE=0] [GENERATOR=native|python] Benchmarks/enqueue_latency.sh [SESSIONS=20000] [CONCURRENCY=32]
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
bench_load enqueue "$SESSIONS" "$CONCURRENCY" "$BENCH_JSON" "${RATE:-0}"
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
