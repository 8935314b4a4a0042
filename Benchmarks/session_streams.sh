#!/usr/bin/env bash
# Session-event fan-out: STREAMS open `GET /events/session` streams of one access key, then SESSIONS enqueues
# (reserved for 2099, so each writes one event), each event delivered to every stream. Reports the delivery delay
# and how many queries the manager ran over the event log meanwhile (`manager_events_log_reads_total`): with one
# reader per replica it follows the events, not the streams.
#
# usage: [STREAMS=10000] [SESSIONS=50] Benchmarks/session_streams.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
bench_setup session-streams-bench
ulimit -n "$(ulimit -Hn)"
bench_database
bench_config <<TOML
TOML
bench_serve
log "${STREAMS:-10000} session streams, ${SESSIONS:-50} enqueues"
.venv/bin/python Benchmarks/session_streams.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --psql "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench" --pid "$MANAGER" \
  --streams "${STREAMS:-10000}" --sessions "${SESSIONS:-50}" --json "$BENCH_JSON"
bench_stop_manager
