#!/usr/bin/env bash
# The web view's first load with SESSIONS sessions in the database: a private PostgreSQL and Redis, a release
# `manager serve`, the sessions seeded as for list_latency.sh (all the admin's), then a real headless Chromium
# (selenium, Tests/ManagerIntegrationTests/Support/web_ui.py `first_load`) that signs in and RUNS times clears its
# cache, opens /ui/#/sessions from about:blank and waits for the table's first row: HTML, script, styles, the
# sign-in check and the GraphQL page of 50 with its total, as a person waits for them.
#
# VIEW="#/sessions?status=RUNNING&type=batch" measures a filtered list instead (a filter counts by scan).
#
# usage: [VIEW=#/sessions…] Benchmarks/web_first_load.sh [SESSIONS=100000] [RUNS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
SESSIONS=${1:-100000}
RUNS=${2:-10}
BROWSER_PYTHON=${MANAGER_TEST_BROWSER_PYTHON:-$PWD/.venv-browser/bin/python}
[ -x "$BROWSER_PYTHON" ] || { ensure_browser_venv "$PWD/.venv-browser"; BROWSER_PYTHON=$PWD/.venv-browser/bin/python; }
bench_setup web-bench
bench_database
bench_config </dev/null
bench_serve
.venv/bin/python Benchmarks/api_latency.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --phases enqueue --sessions 1 --concurrency 1 >/dev/null
log "seeding $SESSIONS sessions"
bench_seed_sessions "$SESSIONS"
log "first load of /ui/#/sessions, $RUNS runs"
"$BROWSER_PYTHON" Tests/ManagerIntegrationTests/Support/web_ui.py first_load \
  "{\"endpoint\": \"http://127.0.0.1:$PORT\", \"access_key\": \"$AK\", \"secret_key\": \"$SK\", \"runs\": $RUNS, \"view\": \"${VIEW:-#/sessions}\", \"shots\": \"$WORK/shots\"}" \
  | tee "$WORK/first-load.json"
python3 - "$BENCH_JSON" "$SESSIONS" "$WORK/first-load.json" <<'PY'
import json, sys
out, sessions, result = sys.argv[1], int(sys.argv[2]), json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
json.dump({"sessions_in_database": sessions, "first_load": result}, open(out, "w"), indent=2)
PY
