#!/usr/bin/env bash
# vfolder upload/download throughput of one file against `cp` on the same disk: a private PostgreSQL and Redis, a
# release `manager serve` with one storage volume under a scratch folder, and Benchmarks/transfer_throughput.py
# (the official CLI and curl, median of RUNS, the manager's peak RSS).
#
# usage: [RUNS=3] [SIZE_MIB=1024] Benchmarks/transfer_throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
bench_setup transfer-bench
bench_database
mkdir -p "$WORK/volume1" "$WORK/scratch"
bench_config <<TOML
[storage]
default_host = "local:volume1"
public_url = "http://127.0.0.1:$PORT"
[storage.volumes.volume1]
path = "$WORK/volume1"
TOML
bench_serve
log "filesystem: $(df -T "$WORK" | awk 'NR==2 {print $1, $2}')"
.venv/bin/python Benchmarks/transfer_throughput.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --volume "$WORK/volume1" --scratch "$WORK/scratch" --manager-pid "$MANAGER" --runs "${RUNS:-3}" \
  --size-mib "${SIZE_MIB:-1024}" --floor-port "$(free_port)" --json "$BENCH_JSON"
