#!/usr/bin/env bash
# The framework's overhead per test under nextest (a process per test): 50 attribute tests
# (a gateway and four agents each, an empty body) against 50 bare #[test] fns, alternated
# ROUNDS times (default 5) on one machine, medians compared. Release build; SQLite files unless
# PERSIST_TEST_DATABASE_URL says otherwise.
#
#   scripts/nextest-overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
run() {
  local filter="$1" start end
  start=$(date +%s.%N)
  cargo nextest run --release --no-fail-fast -p persist-tests --test overhead \
    --run-ignored only -E "test(/^${filter}_/)" >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' 
}
cargo nextest run --release -p persist-tests --test overhead --no-run >/dev/null 2>&1
run framework >/dev/null # warm the template cache and the page cache
framework=() bare=()
for _ in $(seq 1 "$rounds"); do
  framework+=("$(run framework)")
  bare+=("$(run bare)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f=$(median "${framework[@]}")
b=$(median "${bare[@]}")
awk -v f="$f" -v b="$b" -v r="$rounds" 'BEGIN {
  printf "framework %.2f s, bare %.2f s for 50 tests (median of %s): %.1f ms overhead per test\n",
    f, b, r, (f - b) * 1000 / 50 }' 
