#!/usr/bin/env bash
# Soak: a release `manager serve` with its local agent under mixed load for MINUTES (default 30): batch chains,
# folder clones followed on their task streams, session streams reconnecting by Last-Event-ID, GraphQL lists.
# Fails on any 5xx, any session that does not end SUCCESS, an unexpected error in the log, or a task stream that
# misses an event; prints the counts and the manager's RSS over time (JSON with BENCH_JSON=path).
#
# usage: Benchmarks/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
MINUTES=${1:-30}
bench_setup soak
bench_database
mkdir -p "$WORK/volume1" "$WORK/agent"
bench_config info <<TOML
[agent.local]
enabled = true
cpu = "8"
mem = "8g"
work_dir = "$WORK/agent"
[storage]
default_host = "local:volume1"
clone_rate_limit = "20m"
[storage.volumes.volume1]
path = "$WORK/volume1"
TOML
bench_serve
.venv/bin/python Benchmarks/soak.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --volume "$WORK/volume1" --minutes "$MINUTES" --pid "$MANAGER" --json "$BENCH_JSON"
status=$?
if grep -q "unexpected error" "$WORK/manager.log"; then
  log "unexpected errors in the manager log:"; grep "unexpected error" "$WORK/manager.log" | head -5; status=1
fi
exit $status
