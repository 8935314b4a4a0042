#!/usr/bin/env bash
# Runs every test against real services: installs what is missing (apt packages, the official
# Backend.AI client in a virtualenv), starts a private PostgreSQL and Redis on free ports,
# builds, runs the SchedulerKit and integration suites, and tears the services down.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

install_packages

log "checking the project's rules"
if grep -rnE '^\s*import (NIO|Hummingbird|Logging|CPostgres|CHiredis)' Sources/SchedulerKit; then
  echo "SchedulerKit must stay pure (no I/O imports)" >&2; exit 1
fi
if grep -rnE '\bTask(\.detached)? *\{' Sources; then
  echo "no unstructured Task {} in Sources: make it a child task of a Service" >&2; exit 1
fi

WORK=$(mktemp -d /tmp/manager-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  stop_postgres "$WORK/pg"
  stop_redis "$WORK/redis"
  # Servers the tests started themselves (they stop them, but not after a crash).
  for pidfile in "$WORK"/redis-*/redis.pid; do [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
  for data in "$WORK"/pg-*/data; do [ -f "$data/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; done
  pkill -f "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
log "starting PostgreSQL on $PG_PORT and Redis on $REDIS_PORT under $WORK"
start_postgres "$WORK/pg" "$PG_PORT" -c fsync=off -c full_page_writes=off -c max_connections=400
start_redis "$WORK/redis" "$REDIS_PORT"

VENV=${MANAGER_TEST_VENV:-$PWD/.venv}
ensure_client_venv "$VENV"
ST_VENV=${MANAGER_TEST_SCHEMATHESIS_VENV:-$PWD/.venv-schemathesis}
ensure_schemathesis_venv "$ST_VENV"
BROWSER_VENV=${MANAGER_TEST_BROWSER_VENV:-$PWD/.venv-browser}
ensure_browser_venv "$BROWSER_VENV"

export MANAGER_TEST_PG="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
export MANAGER_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export MANAGER_TEST_CLIENT="$VENV/bin/backend.ai"
export MANAGER_TEST_PG_BIN="$PG_BIN"
export MANAGER_TEST_SCHEMATHESIS="$ST_VENV/bin/st"
export MANAGER_TEST_BROWSER_PYTHON="$BROWSER_VENV/bin/python"
# What a run leaves to look at (the web view's screenshots); kept after the run, unlike $WORK.
export MANAGER_TEST_OUTPUT=${MANAGER_TEST_OUTPUT:-$PWD/test-output}
export MANAGER_TEST_WORK="$WORK"

log "building"
swift build --build-tests
log "testing"
# Swift Testing runs every test at once by default; each integration test starts its own daemons, and 100 of them
# on 2 cores made timing-sensitive tests fail under load. Four at a time takes the same wall time.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-4}
swift test --skip-build "$@"

# Every benchmark scenario once at a tiny size with the debug build: checks that the harness runs (no timing is
# judged). Skipped when the tests were filtered.
if [ $# -eq 0 ]; then
  log "benchmark smoke run"
  MANAGER_BIN=.build/debug/manager Benchmarks/bench --smoke --out "$WORK/bench" all

  # Every fuzz target for 30 s with libFuzzer and AddressSanitizer (Fuzz/README.md); a finding fails the run.
  # Last, because the fuzz build re-instruments our modules in .build.
  log "fuzzing each target for 30 s"
  FUZZ_OUT="$WORK/fuzz" Fuzz/run.sh 30
fi
