#!/usr/bin/env bash
# Background-task SSE fan-out and memory: a private PostgreSQL and Redis, a release `manager serve` with a volume,
# and Benchmarks/sse_fanout.py holding SUBSCRIBERS streams on one clone. Two phases, each on a fresh manager:
# idle (clone_rate_limit 1 KiB/s: an event every few seconds) and busy (640 KiB/s: about ten events a second).
#
# usage: [SUBSCRIBERS=5000] [SECONDS=20] [PHASES="idle busy"] Benchmarks/sse_fanout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PG_BIN
WORK=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$WORK"
PG_PORT=$(free_port); REDIS_PORT=$(free_port); PORT=$(free_port)
cleanup() {
  [ -n "${MANAGER:-}" ] && kill "$MANAGER" 2>/dev/null || true
  sleep 1
  stop_redis "$WORK/redis"; stop_postgres "$WORK/pg"
  rm -rf "$WORK"
}
trap cleanup EXIT
start_postgres "$WORK/pg" "$PG_PORT"
start_redis "$WORK/redis" "$REDIS_PORT"
ensure_client_venv .venv
swift build -c release --product manager 2>&1 | tail -1
ulimit -n "$(ulimit -Hn)"
for PHASE in ${PHASES:-idle busy}; do
  RATE=$([ "$PHASE" = idle ] && echo 1k || echo 640k)
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
  rm -rf "$WORK/volume1"; mkdir -p "$WORK/volume1"
  cat > "$WORK/manager.toml" <<TOML
[server]
port = $PORT
[database]
url = "host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
[redis]
port = $REDIS_PORT
[agent.local]
enabled = false
[storage]
default_host = "local:volume1"
clone_rate_limit = "$RATE"
[storage.volumes.volume1]
path = "$WORK/volume1"
[logging]
level = "notice"
TOML
  .build/release/manager migrate --config "$WORK/manager.toml" 2>/dev/null
  KEYS=$(.build/release/manager keypair create --admin --config "$WORK/manager.toml")
  AK=$(echo "$KEYS" | sed -n 's/^access_key=//p'); SK=$(echo "$KEYS" | sed -n 's/^secret_key=//p')
  .build/release/manager serve --config "$WORK/manager.toml" >"$WORK/manager.log" 2>&1 &
  MANAGER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  log "phase $PHASE: clone_rate_limit $RATE, ${SUBSCRIBERS:-5000} subscribers"
  .venv/bin/python Benchmarks/sse_fanout.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
    --volume "$WORK/volume1" --psql "psql -h 127.0.0.1 -p $PG_PORT -U postgres -d bench" --pid "$MANAGER" \
    --subscribers "${SUBSCRIBERS:-5000}" --seconds "${SECONDS_WINDOW:-20}" --json "$WORK/$PHASE.json"
  kill "$MANAGER"; wait "$MANAGER" 2>/dev/null || true; MANAGER=
done
