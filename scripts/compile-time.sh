#!/usr/bin/env bash
# Compile time of one test file of N `#[persistence_test]` fns (default 200), against one of N
# plain `#[tokio::test]` fns, in the `tests` crate with its dependencies already built: what a
# user waits for after editing a suite. With a git revision, the attribute file is also built
# against persist-core as it was at that revision (in a worktree sharing this target
# directory, so only the workspace's own crates build again), for a before/after figure.
#
#   scripts/compile-time.sh [REV]      # N=100 scripts/compile-time.sh for another size
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
root=$(pwd)
n=${N:-200}
rev=${1:-}
export CARGO_TARGET_DIR="$root/target"
# Whole rebuilds of the file, as CI does them: incremental reuse would hide most of the work.
export CARGO_INCREMENTAL=0

attribute_file() {
  echo 'use persist_core::prelude::*;'
  for i in $(seq 1 "$n"); do
    case $((i % 4)) in
      0) echo "#[persistence_test(agents = [\"A\"])] async fn t$i(gateway: GatewayPersistenceAdapter) { let _ = gateway; }" ;;
      1) echo "#[persistence_test(agents = [\"A\", \"B\"])] async fn t$i(inspector: CrossDatabaseInspector) -> Result<(), PersistError> { let _ = inspector; Ok(()) }" ;;
      2) echo "#[persistence_test] async fn t$i(manager: MultiDatabaseManager) { let _ = manager; }" ;;
      3) echo "#[persistence_test(agents = [\"A\"], timeout = \"30s\")] async fn t$i(ctx: TestContext, #[agent(\"A\")] agent: AgentPersistenceAdapter) { let _ = (ctx, agent); }" ;;
    esac
  done
}

tokio_file() {
  for i in $(seq 1 "$n"); do
    echo "#[tokio::test] async fn t$i() { let value = tokio::task::yield_now().await; let _ = value; }"
  done
}

# Seconds to build test target `name` of the crate at `dir` from its source (a first build
# for its dependencies, then the one measured).
measure() { # dir name
  (cd "$1" && cargo build --quiet -p persist-tests --test "$2" >&2)
  touch "$1/tests/tests/$2.rs"
  local start end
  start=$(date +%s.%N)
  (cd "$1" && cargo build --quiet -p persist-tests --test "$2" >&2)
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

files=()
before=$(mktemp -d)/before
cleanup() {
  rm -f "${files[@]}"
  if [ -n "$rev" ]; then git worktree remove --force "$before" 2>/dev/null || true; fi
}
trap cleanup EXIT

attribute_file > tests/tests/zz_compile_attribute.rs
tokio_file > tests/tests/zz_compile_tokio.rs
files+=(tests/tests/zz_compile_attribute.rs tests/tests/zz_compile_tokio.rs)

printf '%-46s %8s\n' "one file of $n tests, rebuilt after an edit" "seconds"
if [ -n "$rev" ]; then
  git worktree add --quiet --force --detach "$before" "$rev"
  attribute_file > "$before/tests/tests/zz_compile_attribute.rs"
  printf '%-46s %8.1f\n' "#[persistence_test], persist-core at $rev" "$(measure "$before" zz_compile_attribute)"
fi
printf '%-46s %8.1f\n' "#[persistence_test], this checkout" "$(measure "$root" zz_compile_attribute)"
printf '%-46s %8.1f\n' "#[tokio::test]" "$(measure "$root" zz_compile_tokio)"
