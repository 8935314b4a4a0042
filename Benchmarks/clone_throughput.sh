#!/usr/bin/env bash
# vfolder clone throughput against `cp -a` on the same disk: a private PostgreSQL and Redis, a release
# `manager serve` with one storage volume under a scratch folder (on the disk that holds /tmp), and
# Benchmarks/clone_throughput.py (1 GiB in 4 files, 20,000 small files; median of RUNS).
#
# usage: [RUNS=5] [DATASETS=large,small] Benchmarks/clone_throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PG_BIN
WORK=$(mktemp -d /tmp/clone-bench.XXXXXX)
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
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE bench"
ensure_client_venv .venv
swift build -c release --product manager 2>&1 | tail -1
mkdir -p "$WORK/volume1" "$WORK/scratch"
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
log "filesystem: $(df -T "$WORK" | awk 'NR==2 {print $1, $2}')"
.venv/bin/python Benchmarks/clone_throughput.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --volume "$WORK/volume1" --scratch "$WORK/scratch" --runs "${RUNS:-5}" --datasets "${DATASETS:-large,small}" \
  --json "${JSON:-$WORK/result.json}"
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
