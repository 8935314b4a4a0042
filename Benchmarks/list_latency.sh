#!/usr/bin/env bash
# GraphQL compute_session_list(limit:100) latency with SESSIONS sessions in the database: a private PostgreSQL
# (durable defaults) and Redis, a release `manager serve`, one session created through the API as a template and
# SESSIONS − 1 copies of it written by SQL (70% TERMINATED, 20% RUNNING, 10% ERROR; the list asks for the live
# statuses and ERROR, as the CLI's `session list` does), then the native load generator (`bench_load`;
# GENERATOR=python: Benchmarks/api_latency.py) sending QUERIES signed queries at each concurrency in CONCURRENCIES.
# BACKLOG=1 makes half the RUNNING ones PENDING instead (10%: a
# queue of 10,000 that cannot start, so the scheduler re-evaluates it every tick while the list is measured).
#
# usage: [BACKLOG=1] [GENERATOR=native|python] Benchmarks/list_latency.sh [SESSIONS=100000] [QUERIES=500] [CONCURRENCIES="1 32"]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
SESSIONS=${1:-100000}
QUERIES=${2:-500}
CONCURRENCIES=${3:-1 32}
bench_setup list-bench
bench_database
PSQL="psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench"
bench_config </dev/null
bench_serve
.venv/bin/python Benchmarks/api_latency.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --phases enqueue --sessions 1 --concurrency 1 >/dev/null
log "seeding $SESSIONS sessions (backlog=${BACKLOG:-0})"
bench_seed_sessions "$SESSIONS" "$([ "${BACKLOG:-0}" = 1 ] && echo PENDING || echo RUNNING)"
log "$($PSQL -Atc "SELECT count(*) FROM sessions") sessions in the database"
RESULTS=()
for C in $CONCURRENCIES; do
  log "list: $QUERIES queries at concurrency $C"
  bench_load list "$QUERIES" "$C" "$WORK/list-$C.json"
  RESULTS+=("$WORK/list-$C.json")
done
python3 - "$BENCH_JSON" "$SESSIONS" "${BACKLOG:-0}" "${RESULTS[@]}" <<'PY'
import json, sys
out, sessions, backlog, files = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
runs = [json.load(open(f)) for f in files]
json.dump({"sessions_in_database": sessions, "pending_backlog": backlog,
           "list": [dict(r["list"], concurrency=r["conditions"]["concurrency"]) for r in runs]}, open(out, "w"), indent=2)
PY
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
