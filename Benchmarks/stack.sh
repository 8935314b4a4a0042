# Shared set-up of the benchmark scripts (source it): a private PostgreSQL and Redis under a scratch folder,
# the client virtualenv, and a release build of `manager`.
#
# MANAGER_BIN=path uses that binary instead of building release (the CI smoke run passes the debug build).
# BENCH_JSON=path: where a scenario writes its JSON result (default: $WORK/result.json, removed with $WORK).
#
#   bench_setup LABEL [postgres -c options…]   sets WORK, PG_PORT, REDIS_PORT, PORT; cleans up on exit
#                                              (run `bench_on_exit CMD` to add a step before the services stop)
#   bench_database                             (re)creates the database `bench`
#   bench_config [LOG_LEVEL] <<TOML            writes $WORK/manager.toml: the private services, pool_size
#                                              ${DB_POOL:-8}, logging at LOG_LEVEL (notice), the local agent off
#                                              unless stdin has an [agent.local] table, then the TOML on stdin
#   bench_serve                                migrates with $WORK/manager.toml, creates an admin keypair (AK, SK),
#                                              starts `manager serve` (MANAGER) and waits for /health
#   bench_stop_manager                         stops it
#   bench_load SCENARIO COUNT CONCURRENCY JSON [RATE]
#                                              signed enqueue|list load from Benchmarks/LoadGenerator (manager-load,
#                                              built beside MANAGER_BIN; RATE: open loop at RATE/s, else closed loop);
#                                              GENERATOR=python uses Benchmarks/api_latency.py instead (the cross-check)
#   bench_seed_sessions N [SEVENTH]            N sessions in the database from the one there (see the function)
source scripts/services.sh
MANAGER_BIN=${MANAGER_BIN:-}
BUILD_RELEASE=$([ -z "$MANAGER_BIN" ] && echo 1 || echo 0)
MANAGER_BIN=${MANAGER_BIN:-.build/release/manager}
export MANAGER_BIN
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
  if [ "$BUILD_RELEASE" = 1 ]; then
    swift build -c release --product manager 2>&1 | tail -1   # incremental: the binary matches the sources
    swift build -c release --product manager-load 2>&1 | tail -1
  fi
  BENCH_JSON=${BENCH_JSON:-$WORK/result.json}
}

bench_database() {
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
}

bench_config() {
  local extra
  extra=$(cat)
  {
    printf '[server]\nport = %s\n[database]\nurl = "host=127.0.0.1 port=%s user=postgres dbname=bench"\n' "$PORT" "$PG_PORT"
    printf 'pool_size = %s\n[redis]\nport = %s\n[logging]\nlevel = "%s"\n' "${DB_POOL:-8}" "$REDIS_PORT" "${1:-notice}"
    grep -q '^\[agent.local\]' <<<"$extra" || printf '[agent.local]\nenabled = false\n'
    printf '%s\n' "$extra"
  } > "$WORK/manager.toml"
}

bench_serve() {
  $MANAGER_BIN migrate --config "$WORK/manager.toml" 2>/dev/null
  local keys
  keys=$($MANAGER_BIN keypair create --admin --config "$WORK/manager.toml")
  AK=$(echo "$keys" | sed -n 's/^access_key=//p'); SK=$(echo "$keys" | sed -n 's/^secret_key=//p')
  # One keypair drives each load: past Backend.AI's per-keypair limits on purpose (the limiter still runs: one
  # Redis call per request), unless a scenario sets its own.
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -qc "UPDATE keypairs SET rate_limit = 2000000000"
  MANAGER_AUTH_MAX_STREAMS_PER_KEYPAIR=${MANAGER_AUTH_MAX_STREAMS_PER_KEYPAIR:-100000} \
    $MANAGER_BIN serve --config "$WORK/manager.toml" >"$WORK/manager.log" 2>&1 &
  MANAGER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
}

LOAD_BIN=${LOAD_BIN:-$(dirname "$MANAGER_BIN")/manager-load}

bench_load() {
  local scenario=$1 count=$2 concurrency=$3 json=$4 rate=${5:-0}
  if [ "${GENERATOR:-native}" = python ]; then
    local phase_args=(--sessions "$count")
    [ "$scenario" = list ] && phase_args=(--queries "$count")
    .venv/bin/python Benchmarks/api_latency.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
      --phases "$scenario" "${phase_args[@]}" --concurrency "$concurrency" --json "$json"
  else
    "$LOAD_BIN" --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" --scenario "$scenario" \
      --count "$count" --concurrency "$concurrency" --rate "$rate" --json "$json"
  fi
}

bench_stop_manager() {
  if [ -n "${MANAGER:-}" ]; then
    kill "$MANAGER" 2>/dev/null || true
    wait "$MANAGER" 2>/dev/null || true
    MANAGER=
  fi
}

# bench_seed_sessions N [SEVENTH=RUNNING]: N − 1 copies (by SQL) of the one session already in the database, so the
# database holds N: 70% TERMINATED (SUCCESS), 10% SEVENTH (RUNNING, or PENDING for a backlog), 10% RUNNING, 10% ERROR.
bench_seed_sessions() {
  local sessions=$1 seventh=${2:-RUNNING}
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -q <<SQL
INSERT INTO sessions (id, creation_id, name, session_type, domain_name, group_id, user_uuid, access_key, scaling_group_name,
    image, architecture, requested_slots, resource_opts, startup_command, created_at, terminated_at, status, status_info,
    status_history, status_changed, result)
SELECT gen_random_uuid(), '', 'seed-' || i, t.session_type, t.domain_name, t.group_id, t.user_uuid, t.access_key,
    t.scaling_group_name, t.image, t.architecture, t.requested_slots, t.resource_opts, t.startup_command,
    now() - make_interval(secs => i),
    CASE WHEN i % 10 < 7 THEN now() - make_interval(secs => i) + interval '1 minute' END,
    CASE WHEN i % 10 < 7 THEN 'TERMINATED' WHEN i % 10 = 7 THEN '$seventh' WHEN i % 10 = 8 THEN 'RUNNING' ELSE 'ERROR' END,
    CASE WHEN i % 10 < 7 THEN 'user-requested' END,
    t.status_history, now() - make_interval(secs => i),
    CASE WHEN i % 10 < 7 THEN 'SUCCESS' WHEN i % 10 = 9 THEN 'FAILURE' ELSE 'UNDEFINED' END
FROM generate_series(1, $sessions - 1) AS i, (SELECT * FROM sessions LIMIT 1) AS t;
VACUUM ANALYZE sessions;
SQL
}
