#!/usr/bin/env bash
# vfolder clone throughput against `cp -a` on the same disk: a private PostgreSQL and Redis, a release
# `manager serve` with one storage volume under a scratch folder (on the disk that holds /tmp), and
# Benchmarks/clone_throughput.py (1 GiB in 4 files, 20,000 small files; median of RUNS).
#
# usage: [RUNS=5] [DATASETS=large,small] Benchmarks/clone_throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/stack.sh
bench_setup clone-bench
bench_database
mkdir -p "$WORK/volume1" "$WORK/scratch"
bench_config <<TOML
[storage]
default_host = "local:volume1"
[storage.volumes.volume1]
path = "$WORK/volume1"
TOML
bench_serve
log "filesystem: $(df -T "$WORK" | awk 'NR==2 {print $1, $2}')"
.venv/bin/python Benchmarks/clone_throughput.py --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
  --volume "$WORK/volume1" --scratch "$WORK/scratch" --runs "${RUNS:-5}" --datasets "${DATASETS:-large,small}" \
  --json "$BENCH_JSON"
log "RSS: manager $(grep VmRSS /proc/$MANAGER/status | awk '{print $2, $3}')"
