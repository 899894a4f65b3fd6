#!/usr/bin/env bash
# Proves that the test suite's private production build (scripts/private-build.mjs)
# belongs to one checkout: two fresh clones of this repository's HEAD, each with its
# own `npm ci`; `npm test` in the first, the first deleted, `npm test` in the second.
# Then checks that each build lives inside its clone and links only that clone's
# node_modules. With --concurrent, both clones first test at the same time.
#
# Usage: scripts/check-fresh-clones.sh [--concurrent] [vitest args...]
#   default vitest args: tests/e2e/cors.test.ts (a small e2e subset)
#   NODE_MODULES_FROM=<dir>: hard-link that node_modules instead of `npm ci` (faster)
set -euo pipefail

concurrent=false
if [ "${1:-}" = "--concurrent" ]; then
  concurrent=true
  shift
fi
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/e2e/cors.test.ts)

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/rtg-fresh-clones.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

for n in 1 2; do
  say "clone $n: $work/clone-$n ($(git -C "$repo" rev-parse --short HEAD))"
  git clone -q "$repo" "$work/clone-$n"
  if [ -n "${NODE_MODULES_FROM:-}" ]; then
    cp -al "$NODE_MODULES_FROM" "$work/clone-$n/node_modules"
  else
    (cd "$work/clone-$n" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

run_tests() {
  say "npm test -- ${args[*]} in clone $1"
  (cd "$work/clone-$1" && npm test -- "${args[@]}")
}

# Every private build of clone $1 must sit inside it and link only its node_modules.
check_builds() {
  local clone="$work/clone-$1" found=0 link
  for build in "$clone"/.next-test/*/*/; do
    [ -e "$build/.rtg-build-complete" ] || continue
    found=1
    link=$(readlink "$build/node_modules")
    if [ "$link" != "$clone/node_modules" ]; then
      echo "FAIL: $build links $link, not $clone/node_modules" >&2
      exit 1
    fi
  done
  if [ "$found" = 0 ]; then
    echo "FAIL: no finished private build inside $clone/.next-test" >&2
    exit 1
  fi
  if grep -rIl --exclude-dir=node_modules "$work/clone-$2" "$clone/.next-test" >/dev/null 2>&1; then
    echo "FAIL: clone $1's build mentions clone $2's path" >&2
    exit 1
  fi
  echo "clone $1: its build is inside it and links only its own node_modules"
}

if [ "$concurrent" = true ]; then
  say "both clones test at the same time"
  run_tests 1 > "$work/clone-1.log" 2>&1 &
  first=$!
  if ! run_tests 2; then
    echo "FAIL: clone 2 failed while clone 1 tested too" >&2
    exit 1
  fi
  if ! wait "$first"; then
    cat "$work/clone-1.log" >&2
    echo "FAIL: clone 1 failed while clone 2 tested too" >&2
    exit 1
  fi
  check_builds 2 1
fi

run_tests 1
check_builds 1 2

say "deleting clone 1"
rm -rf "$work/clone-1"

run_tests 2
check_builds 2 1

say "OK: each clone tested on its own build; deleting one did not break the other"
