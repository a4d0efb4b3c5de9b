#!/usr/bin/env bash
# Mutation testing of the verdict code with cargo-mutants: is each check's own code proven by
# the suites, so that a check broken by a `<` become `<=`, a skipped table or a wrong count
# fails a test?
#
# Two groups, each with the fastest tests that cover it:
#   verdicts  the inspector (persist-core/src/inspect), the assertions and the migration checks
#             (persist-core/src/migrate), against persist-core's own tests and the suites that
#             prove verdicts, on SQLite in memory (most do not depend on the backend), or on the
#             server PERSIST_TEST_DATABASE_URL names (for the branches one backend takes);
#   pristine  the engine's pristine checks: the warm SQLite proof (persist-db/src/warm.rs)
#             against persist-db's tests, and, when PERSIST_TEST_DATABASE_URL names a server,
#             the server reset and catalog digest and key (persist-db/src/backend/server/pool/
#             {reset,catalog}.rs) against the server suites (template keys among them).
#
#   scripts/mutants.sh [--group verdicts|pristine] [--file PATH]... [--tests T,T...]
#                      [--shard k/N] [--in-diff FILE] [--list]
#
# --file narrows a group to some of its files (a glob, as cargo-mutants takes it); --tests
# runs only some of its test targets (`lib` for the library's own tests), the fewer the
# faster: the layout proof (inspect/proof) is proven by fault_detection,mixed_mesh,verdicts,
# the data snapshots (inspect/snapshot) by snapshots,session_lifecycle,fault_detection,lib.
# --shard k/N runs one shard of N (several machines share a full run); --in-diff runs only the
# mutants of lines a diff touched (CI: the previous commit). Mutants are built in place, in
# the workspace's own target directory (the sources are restored after each; do not kill the
# script with SIGKILL). A mutant whose tests take four times as long as the unmutated ones
# (and over a minute) is a timeout. For each group it prints the score (caught, missed, unviable, timed out), then the
# missed mutants that scripts/mutants-equivalent.txt does not explain; it fails if there are any.
# cargo-mutants itself: cargo install --locked cargo-mutants
set -euo pipefail
cd "$(dirname "$0")/.."

groups="verdicts pristine"
extra=()
files=()
only_tests=""
list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --group) groups="$2"; shift 2 ;;
    --shard) extra+=(--shard "$2"); shift 2 ;;
    --in-diff) extra+=(--in-diff "$2"); shift 2 ;;
    --file) files+=(-f "$2"); shift 2 ;;
    --tests) only_tests="$2"; shift 2 ;;
    --list) list=1; shift ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
command -v cargo-mutants >/dev/null || {
  echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
  exit 2
}

equivalent=scripts/mutants-equivalent.txt
status=0

# Drops each `FLAG VALUE` pair from the `args` of the group being run.
without() {
  local kept=() skip=0 a
  for a in "${args[@]}"; do
    if [ "$skip" -eq 1 ]; then skip=0; continue; fi
    if [ "$a" = "$1" ]; then skip=1; continue; fi
    kept+=("$a")
  done
  args=("${kept[@]}")
}

run_group() {
  local group="$1" out="target/mutants/$1"
  # The suites wait on their databases more than they compute: four test threads a core.
  local threads=$(( $(nproc) * 4 ))
  local args=(--in-place --no-shuffle --test-tool nextest
              --minimum-test-timeout 60 --output "$out"
              --cargo-test-arg "--test-threads=$threads")
  local env=()
  case "$group" in
    verdicts)
      args+=(--test-package persist-core,persist-tests
             -f 'persist-core/src/inspect/**' -f persist-core/src/assertions.rs
             -f 'persist-core/src/migrate/**')
      # `--cargo-arg`, not `--cargo-test-arg`: the build of each mutant takes them too, so it
      # builds these test targets only, not every one of both packages.
      for t in verdicts fault_detection mixed_mesh real_stores migration_checks snapshots \
               mesh_guarantees multi_agent_isolation custom_schema own_system \
               database_architecture session_lifecycle; do
        args+=(--cargo-arg "--test=$t")
      done
      args+=(--cargo-arg --lib)
      # In memory, unless a server is named: a branch one backend takes is caught on it.
      env=(PERSIST_TEST_DATABASE_URL=memory)
      if [ -n "${PERSIST_TEST_DATABASE_URL:-}" ] && [ "${PERSIST_TEST_DATABASE_URL#*://}" != "$PERSIST_TEST_DATABASE_URL" ]; then
        env=(PERSIST_TEST_DATABASE_URL="$PERSIST_TEST_DATABASE_URL")
      fi
      ;;
    pristine)
      args+=(-f persist-db/src/warm.rs)
      if [ -n "${PERSIST_TEST_DATABASE_URL:-}" ] && [ "${PERSIST_TEST_DATABASE_URL#*://}" != "$PERSIST_TEST_DATABASE_URL" ]; then
        args+=(-f persist-db/src/backend/server/pool/reset.rs
               -f persist-db/src/backend/server/pool/catalog.rs
               --test-package persist-db,persist-tests
               --cargo-arg --test=warm --cargo-arg --test=server_backends
               --cargo-arg --test=template_keys --cargo-arg --test=chaos
               --cargo-arg --test=pool_stress --cargo-arg --lib)
        env=(PERSIST_TEST_DATABASE_URL="$PERSIST_TEST_DATABASE_URL")
      else
        echo "pristine: the server reset and digest need PERSIST_TEST_DATABASE_URL=<server>; the warm SQLite proof only" >&2
        args+=(--test-package persist-db --cargo-arg --test=warm)
        env=(PERSIST_TEST_DATABASE_URL=sqlite)
      fi
      ;;
    *) echo "unknown group: $group" >&2; exit 2 ;;
  esac
  if [ -n "$only_tests" ]; then
    # The group's test targets give way to those asked for.
    without --cargo-arg
    local t
    for t in ${only_tests//,/ }; do
      if [ "$t" = lib ]; then args+=(--cargo-arg --lib); else args+=(--cargo-arg "--test=$t"); fi
    done
  fi
  if [ "${#files[@]}" -gt 0 ]; then
    # The group's own files give way to those asked for.
    without -f
    args+=("${files[@]}")
  fi
  if [ "$list" -eq 1 ]; then
    env "${env[@]}" cargo mutants --list "${args[@]}" "${extra[@]}"
    return
  fi
  mkdir -p "$out"
  local n
  n=$(env "${env[@]}" cargo mutants --list "${args[@]}" "${extra[@]}" 2>/dev/null | grep -c . || true)
  if [ "$n" -eq 0 ]; then
    echo "$group: no mutants to test"
    return
  fi
  # cargo-mutants' own baseline runs the mutated package's tests alone, and the tests that
  # prove these checks live in another package: the baseline is run here, on the same tests,
  # and timed for the mutants' timeout.
  local tests=()
  for a in "${args[@]}"; do
    case "$a" in --test=*|--lib) tests+=("$a") ;; esac
  done
  local packages
  packages=$(printf '%s\n' "${args[@]}" | grep -A1 -- '^--test-package$' | grep -v -- '^--' | tr ',' ' ')
  local pkg_args=()
  for p in $packages; do pkg_args+=(-p "$p"); done
  echo "$group: the tests, unmutated" >&2
  env "${env[@]}" cargo nextest run --no-fail-fast --test-threads="$threads" "${pkg_args[@]}" "${tests[@]}" > "$out/baseline.log" 2>&1 || {
    echo "$group: the tests fail unmutated; see $out/baseline.log" >&2
    status=1
    return
  }
  # A mutant that loops for ever is a timeout once its tests take four times as long as the
  # unmutated ones did (built, the second time), and at least a minute.
  local started=$SECONDS
  env "${env[@]}" cargo nextest run --no-fail-fast --test-threads="$threads" "${pkg_args[@]}" "${tests[@]}" > /dev/null 2>&1 || true
  local took=$((SECONDS - started))
  local timeout=$((took * 4 < 60 ? 60 : took * 4))
  local rc=0
  env "${env[@]}" cargo mutants --baseline skip --timeout "$timeout" "${args[@]}" "${extra[@]}" || rc=$?
  # 0: all caught; 2: some missed; 3: some timed out. Anything else is a failure of the run.
  case "$rc" in 0|2|3) ;; *) echo "$group: cargo-mutants failed ($rc)" >&2; status=1; return ;; esac
  local dir="$out/mutants.out"
  count() { [ -f "$dir/$1.txt" ] && wc -l < "$dir/$1.txt" || echo 0; }
  local caught missed unviable timeout
  caught=$(count caught) missed=$(count missed) unviable=$(count unviable) timeout=$(count timeout)
  local viable=$((caught + missed + timeout))
  local score="n/a"
  [ "$viable" -gt 0 ] && score=$(awk -v c="$caught" -v t="$timeout" -v v="$viable" 'BEGIN { printf "%.1f %%", (c + t) * 100 / v }')
  echo "$group: caught $caught, missed $missed, unviable $unviable, timed out $timeout; score $score"
  # Missed mutants the list does not explain: each line of the list starts with the mutant as
  # cargo-mutants names it (file:line:column: description), then ` # ` and why it is equivalent.
  local unexplained=0
  if [ -f "$dir/missed.txt" ]; then
    while IFS= read -r mutant; do
      if ! grep -qF -- "$mutant #" "$equivalent" 2>/dev/null; then
        echo "  missed: $mutant"
        unexplained=$((unexplained + 1))
      fi
    done < "$dir/missed.txt"
  fi
  if [ "$unexplained" -gt 0 ]; then
    echo "$group: $unexplained missed mutants are neither caught nor explained in $equivalent" >&2
    status=1
  fi
}

for group in $groups; do
  run_group "$group"
done
exit "$status"
