#!/usr/bin/env bash
# The framework's overhead per test under nextest (a process per test): 50 attribute tests
# with a gateway and four agents and an empty body, 50 that make a query on each of their five
# databases, and 50 bare #[test] fns, alternated ROUNDS times (default 5) on one machine,
# medians compared. Release build; SQLite files unless PERSIST_TEST_DATABASE_URL says
# otherwise.
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
framework=() queried=() bare=()
for _ in $(seq 1 "$rounds"); do
  framework+=("$(run framework)")
  queried+=("$(run queried)")
  bare+=("$(run bare)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f=$(median "${framework[@]}")
q=$(median "${queried[@]}")
b=$(median "${bare[@]}")
awk -v f="$f" -v q="$q" -v b="$b" -v r="$rounds" 'BEGIN {
  printf "50 tests each (median of %s): bare %.2f s, empty body %.2f s, a query on each db %.2f s\n", r, b, f, q
  printf "overhead per test: %.1f ms with an empty body, %.1f ms with a query on each db\n",
    (f - b) * 1000 / 50, (q - b) * 1000 / 50 }'

