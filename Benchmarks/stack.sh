# Shared set-up of the benchmark scripts (source it): a private PostgreSQL and Redis under a scratch folder,
# the client virtualenv, and a release build of `manager`.
#
#   bench_setup LABEL [postgres -c options…]   sets WORK, PG_PORT, REDIS_PORT, PORT; cleans up on exit
#                                              (run `bench_on_exit CMD` to add a step before the services stop)
#   bench_database                             (re)creates the database `bench`
#   bench_serve                                migrates with $WORK/manager.toml, creates an admin keypair (AK, SK),
#                                              starts `manager serve` (MANAGER) and waits for /health
#   bench_stop_manager                         stops it
source scripts/services.sh
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PG_BIN
BENCH_EXIT_STEPS=()

bench_on_exit() { BENCH_EXIT_STEPS+=("$1"); }

bench_cleanup() {
  for step in "${BENCH_EXIT_STEPS[@]}"; do eval "$step" || true; done
  bench_stop_manager
  stop_redis "$WORK/redis"; stop_postgres "$WORK/pg"
  [ "${KEEP_WORK:-0}" = 1 ] && log "kept $WORK" || rm -rf "$WORK"
}

bench_setup() {
  local label=$1; shift
  WORK=$(mktemp -d "/tmp/$label.XXXXXX")
  chmod 755 "$WORK"
  PG_PORT=$(free_port); REDIS_PORT=$(free_port); PORT=$(free_port)
  trap bench_cleanup EXIT
  start_postgres "$WORK/pg" "$PG_PORT" "$@"
  start_redis "$WORK/redis" "$REDIS_PORT"
  ensure_client_venv .venv
  swift build -c release --product manager 2>&1 | tail -1   # incremental: the binary matches the sources
}

bench_database() {
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
}

bench_serve() {
  .build/release/manager migrate --config "$WORK/manager.toml" 2>/dev/null
  local keys
  keys=$(.build/release/manager keypair create --admin --config "$WORK/manager.toml")
  AK=$(echo "$keys" | sed -n 's/^access_key=//p'); SK=$(echo "$keys" | sed -n 's/^secret_key=//p')
  .build/release/manager serve --config "$WORK/manager.toml" >"$WORK/manager.log" 2>&1 &
  MANAGER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
}

bench_stop_manager() {
  if [ -n "${MANAGER:-}" ]; then
    kill "$MANAGER" 2>/dev/null || true
    wait "$MANAGER" 2>/dev/null || true
    MANAGER=
  fi
}
