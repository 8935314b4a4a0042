#!/usr/bin/env bash
# Sets up and runs the manager with its local process agent on this machine:
# installs what is missing, starts a private PostgreSQL and Redis under ./state, migrates,
# creates an admin keypair (printed once, kept in state/admin.keypair), and runs `manager serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

STATE=${MANAGER_STATE_DIR:-$PWD/state}
PG_PORT=${MANAGER_PG_PORT:-15432}
REDIS_PORT=${MANAGER_REDIS_PORT:-16379}
mkdir -p "$STATE"

install_packages
# Defence in depth (sessions run in a sandbox that cannot reach the host's loopback): PostgreSQL and Redis still
# ask every client for a password, kept in $STATE (0600).
export PGPASSWORD REDISCLI_AUTH
PGPASSWORD=$(random_secret "$STATE/postgres.password")
REDISCLI_AUTH=$(random_secret "$STATE/redis.password")
log "starting PostgreSQL on 127.0.0.1:$PG_PORT and Redis on 127.0.0.1:$REDIS_PORT (state in $STATE)"
pg_run "$PG_BIN/pg_ctl" -D "$STATE/postgres/data" status >/dev/null 2>&1 || start_postgres "$STATE/postgres" "$PG_PORT"
secure_postgres "$STATE/postgres" "$PG_PORT"
if ! redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  # Not running, or running without a password (an older state): (re)start it with the password.
  REDISCLI_AUTH='' redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  start_redis "$STATE/redis" "$REDIS_PORT" "$REDISCLI_AUTH"
fi
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='manager'" | grep -q 1 \
  || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE manager"

log "building the manager (release)"
swift build -c release --product manager
BIN=$(swift build -c release --show-bin-path)/manager

export MANAGER_DATABASE_URL="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PG_PORT/manager"
export MANAGER_REDIS_PORT="$REDIS_PORT" MANAGER_REDIS_PASSWORD="$REDISCLI_AUTH"
"$BIN" migrate --config config/manager.toml
if [ ! -f "$STATE/admin.keypair" ]; then
  "$BIN" keypair create --admin --user admin@lablup.com --config config/manager.toml > "$STATE/admin.keypair"
  chmod 600 "$STATE/admin.keypair"
fi
log "admin keypair (also in $STATE/admin.keypair):"
cat "$STATE/admin.keypair"
log "use it with the official client:  BACKEND_ENDPOINT=http://127.0.0.1:8091 BACKEND_ACCESS_KEY=… BACKEND_SECRET_KEY=… backend.ai config"
exec "$BIN" serve --config config/manager.toml
