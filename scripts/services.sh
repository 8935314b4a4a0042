#!/usr/bin/env bash
# Shared helpers: install the system packages, start a private PostgreSQL and Redis under a folder.
# Sourced by scripts/run-local.sh and scripts/test.sh.

APT_PACKAGES=(postgresql redis-server libpq-dev libhiredis-dev libssl-dev pkg-config python3-venv curl bubblewrap slirp4netns util-linux busybox-static chromium chromium-driver)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # Debian's postgresql package starts a cluster of its own on 5432; we never use it.
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  export PG_BIN
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT [extra server options]: initdb on first use, then start; the superuser is "postgres".
start_postgres() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    pg_run "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  pg_run "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $*" >/dev/null \
    || { cat "$dir/postgres.log" >&2; return 1; }
}

stop_postgres() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# secure_postgres DIR PORT: the superuser gets the password in $PGPASSWORD and every connection (socket or
# loopback) must give it (scram-sha-256); until then the cluster trusts every local connection. Idempotent.
secure_postgres() {
  local dir=$1 port=$2
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "ALTER USER postgres PASSWORD '$PGPASSWORD'" >/dev/null
  local hba="$dir/data/pg_hba.conf"
  if ! grep -q '^# secured by scripts/services.sh' "$hba" 2>/dev/null; then
    printf '%s\n' '# secured by scripts/services.sh' 'local all all scram-sha-256' \
      'host all all 127.0.0.1/32 scram-sha-256' 'host all all ::1/128 scram-sha-256' > "$hba.new"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$hba.new"; fi
    mv "$hba.new" "$hba"
    pg_run "$PG_BIN/pg_ctl" -D "$dir/data" reload >/dev/null
  fi
}

# start_redis DIR PORT [PASSWORD]: with a password, every client must AUTH first.
start_redis() {
  local dir=$1 port=$2 password=${3:-}
  mkdir -p "$dir"
  local auth=()
  if [ -n "$password" ]; then auth=(--requirepass "$password"); fi
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${auth[@]}"
  for _ in $(seq 50); do REDISCLI_AUTH=$password redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  cat "$dir/redis.log" >&2; return 1
}

# random_secret FILE: a secret kept in FILE (0600), made on first use.
random_secret() {
  local file=$1
  if [ ! -s "$file" ]; then (umask 077; python3 -c 'import secrets; print(secrets.token_hex(24))' > "$file"); fi
  cat "$file"
}

stop_redis() {
  local dir=$1
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

# The official Backend.AI client in a virtualenv (for the compatibility tests and for users).
# ensure_schemathesis_venv DIR: schemathesis (pinned) for the OpenAPI contract test, in a virtualenv of its own.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis_venv() {
  local venv=$1
  local constraints stamp
  constraints="$(dirname "${BASH_SOURCE[0]}")/schemathesis-constraints.txt"
  stamp=$(sha256sum "$constraints" | cut -c1-16)
  if [ ! -x "$venv/bin/st" ] || [ "$(cat "$venv/.constraints" 2>/dev/null)" != "$stamp" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION (every dependency pinned) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" "schemathesis==$SCHEMATHESIS_VERSION"
    echo "$stamp" > "$venv/.constraints"
  fi
}

# ensure_browser_venv DIR: selenium (every dependency pinned) for the web view's tests in a real headless Chromium
# (Debian's chromium and chromium-driver, installed above), in a virtualenv of its own.
SELENIUM_VERSION=4.27.1
ensure_browser_venv() {
  local venv=$1
  local constraints stamp
  constraints="$(dirname "${BASH_SOURCE[0]}")/browser-constraints.txt"
  stamp=$(sha256sum "$constraints" | cut -c1-16)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.constraints" 2>/dev/null)" != "$stamp" ]; then
    log "installing selenium $SELENIUM_VERSION (every dependency pinned) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" "selenium==$SELENIUM_VERSION"
    echo "$stamp" > "$venv/.constraints"
  fi
}

ensure_client_venv() {
  local venv=$1
  local constraints stamp
  constraints="$(dirname "${BASH_SOURCE[0]}")/client-constraints.txt"
  stamp=$(sha256sum "$constraints" | cut -c1-16)
  if [ ! -x "$venv/bin/backend.ai" ] || [ "$(cat "$venv/.constraints" 2>/dev/null)" != "$stamp" ]; then
    log "installing backend.ai-client 23.9.10 (every dependency pinned) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" 'backend.ai-client==23.9.10' 'yarl==1.9.4'
    echo "$stamp" > "$venv/.constraints"
  fi
}
