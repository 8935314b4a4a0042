#!/usr/bin/env bash
# Fuzz/run.sh [SECONDS] [TARGET...]: builds manager-fuzz for libFuzzer (MANAGER_FUZZ=1) and runs each target for
# SECONDS (default 30) on a copy of its seed corpus. Exits non-zero when a target finds a crash, leaving the input in
# $FUZZ_OUT/artifacts (default /tmp/manager-fuzz). The test command runs it with 30 s for every target.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(http-date authorization json session-create agent-protocol graphql toml amounts request-path paths multipart)
fi
OUT=${FUZZ_OUT:-/tmp/manager-fuzz}
mkdir -p "$OUT/artifacts"
# FUZZ_SCRATCH=.build-fuzz keeps the fuzz build apart from the normal one.
SCRATCH=()
if [ -n "${FUZZ_SCRATCH:-}" ]; then SCRATCH=(--scratch-path "$FUZZ_SCRATCH"); fi
MANAGER_FUZZ=1 swift build "${SCRATCH[@]}" --product manager-fuzz
BIN="$(MANAGER_FUZZ=1 swift build "${SCRATCH[@]}" --product manager-fuzz --show-bin-path)/manager-fuzz"
failed=0
for target in "${TARGETS[@]}"; do
  work="$OUT/corpus/$target"
  mkdir -p "$work"
  echo "== fuzzing $target for ${SECONDS_EACH}s"
  if ! FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$BIN" "$work" "Fuzz/corpus/$target" \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$OUT/artifacts/$target-" > "$OUT/$target.log" 2>&1; then
    echo "!! $target found a failure:"; grep -E "ERROR|property violated|Fatal error|deadly signal|timeout|out-of-memory" "$OUT/$target.log" | head -5
    ls "$OUT/artifacts" | grep "^$target-" | head -5
    failed=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb" "$OUT/$target.log" | tr '\n' ' '
  echo "corpus: $(ls "$work" | wc -l) inputs"
done
exit $failed
