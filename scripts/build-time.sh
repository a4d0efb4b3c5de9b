#!/usr/bin/env bash
# Clean-build time of a user's test crate (examples/own-system: its own system, five tests'
# worth of suite) against persist-core with every feature (what every user compiled before
# features existed: three drivers and the reference mesh) and with `sqlite` alone. Both builds
# run in this one invocation, one after the other, each in a fresh target directory, with
# the registry already downloaded, so the ratio is measured on the same machine and moment.
#
#   scripts/build-time.sh            # prints both times, the ratio and crate counts
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

prepare() { # name features
  mkdir -p "$work/$1"
  cp -r examples/own-system/src examples/own-system/tests "$work/$1/"
  sed -e "s#path = \"../../persist-core\"#path = \"$root/persist-core\"#" \
      -e "s#features = \[[^]]*\]#features = [$2]#" \
      examples/own-system/Cargo.toml > "$work/$1/Cargo.toml"
  [ -f examples/own-system/Cargo.lock ] && cp examples/own-system/Cargo.lock "$work/$1/"
  (cd "$work/$1" && cargo fetch --quiet)
}

measure() { # name
  local start end
  start=$(date +%s.%N)
  (cd "$work/$1" && CARGO_TARGET_DIR="$work/$1/target" cargo test --no-run --quiet 2>/dev/null)
  end=$(date +%s.%N)
  local units
  units=$(cd "$work/$1" && cargo tree --quiet -e normal,build,dev --prefix none | sort -u | wc -l)
  local size
  size=$(find "$work/$1/target/debug/deps" -maxdepth 1 -name 'persistence-*' -type f -executable -printf '%s\n' | head -1)
  printf '%s %.1f %s %s\n' "$1" "$(echo "$end - $start" | bc)" "$units" "$((size / 1000000))"
}

prepare all '"sqlite", "postgres", "mysql", "mesh"'
prepare lean '"sqlite"'
all=$(measure all)
lean=$(measure lean)
read -r _ all_s all_crates all_mb <<<"$all"
read -r _ lean_s lean_crates lean_mb <<<"$lean"
printf '%-40s %8s %8s %10s\n' "persist-core features" "seconds" "crates" "test MB"
printf '%-40s %8s %8s %10s\n' "sqlite, postgres, mysql, mesh (before)" "$all_s" "$all_crates" "$all_mb"
printf '%-40s %8s %8s %10s\n' "sqlite only" "$lean_s" "$lean_crates" "$lean_mb"
printf 'ratio: %.2fx\n' "$(echo "$all_s / $lean_s" | bc -l)"
