#!/usr/bin/env bash
# Tenant B's enqueue latency and time to RUNNING, alone and while tenant A floods the queue (reservations and
# sessions that fit nowhere) from many workers: a private PostgreSQL (durable defaults) and Redis, a release
# `manager serve`, 4 simulated agents (64 cpu each), and Benchmarks/tenant_fairness.py.
#
# usage: Benchmarks/tenant_fairness.sh [B_SESSIONS=200] [B_RATE=20] [A_WORKERS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
B_SESSIONS=${1:-200}
B_RATE=${2:-20}
A_WORKERS=${3:-32}
bench_setup tenant-bench -c max_connections=200
bench_on_exit 'pkill -TERM -f -- "--work-dir $WORK/agents"; sleep 1'
bench_database
PSQL="psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench"
DB_POOL=16 bench_config <<TOML
[agent]
secret = "bench-secret"
TOML
bench_serve
B=$($MANAGER_BIN keypair create --user tenant-b@example.com --config "$WORK/manager.toml")
BK=$(echo "$B" | sed -n 's/^access_key=//p'); BS=$(echo "$B" | sed -n 's/^secret_key=//p')
$MANAGER_BIN agent --manager "http://127.0.0.1:$PORT" --secret bench-secret --id bench --instances 4 --cpu 64 --mem 1000g \
  --work-dir "$WORK/agents" --log-level warning --simulate >"$WORK/agents.log" 2>&1 &
for _ in $(seq 100); do
  [ "$($PSQL -Atc "SELECT count(*) FROM agents WHERE status = 'ALIVE'" 2>/dev/null || echo 0)" = 4 ] && break
  sleep 0.2
done
run() {
  .venv/bin/python Benchmarks/tenant_fairness.py --endpoint "http://127.0.0.1:$PORT" --a-key "$AK" --a-secret "$SK" \
    --b-key "$BK" --b-secret "$BS" --psql "$PSQL" --b-sessions "$B_SESSIONS" --b-rate "$B_RATE" --a-workers "$A_WORKERS" "$@"
}
log "tenant B alone: $B_SESSIONS sessions at $B_RATE/s"
run --json "$WORK/alone.json"
log "tenant B while A floods with $A_WORKERS workers"
run --flood --json "$WORK/flood.json"
log "A's queue: $($PSQL -Atc "SELECT count(*) FROM sessions WHERE access_key = '$AK' AND status = 'PENDING'") PENDING"
python3 -c "import json,sys; json.dump({'alone': json.load(open(sys.argv[1])), 'flood': json.load(open(sys.argv[2]))}, open(sys.argv[3], 'w'), indent=2)" \
  "$WORK/alone.json" "$WORK/flood.json" "$BENCH_JSON"
