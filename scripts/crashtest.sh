#!/usr/bin/env bash
# Crash test of the real CLI on the libssl3 corpus, with signed bundles.
#
# Builds patchkit with -tags crashtest (PATCHKIT_CRASH_AFTER=k makes it SIGKILL itself
# right after its k-th filesystem step; PATCHKIT_CRASH_TRACE=1 lists the steps), then
# for apply 3.0.17→3.0.22, remove, and supersede (a) 3.0.20 → (b) 3.0.22 kills the
# command at every step k, runs "patchkit status" (which recovers), and checks with
# diff -r that the tree is exactly the old or the new tree, and that status lists the
# bundle that tree belongs to.
#
#   scripts/crashtest.sh                 every step of every scenario
#   STRIDE=4 scripts/crashtest.sh        every 4th step (quick)
#   PATCHKIT_CORPUS=/path scripts/crashtest.sh
#
# It first runs the CLI's crash and disk-full scripts (cmd/patchkit/testdata/crash) in a
# crashtest test build: only such builds honour PATCHKIT_CRASH_AFTER/PATCHKIT_STAGE_LIMIT.
set -euo pipefail
cd "$(dirname "$0")/.."
C=${PATCHKIT_CORPUS:-$PWD/corpus}/libssl3
B=$C/3.0.17-1~deb12u2 A=$C/3.0.20-1~deb12u2 T=$C/3.0.22-1~deb12u2
if [ ! -d "$B" ] || [ ! -d "$A" ] || [ ! -d "$T" ]; then
  echo "crashtest: FAIL: no libssl3 corpus under ${PATCHKIT_CORPUS:-$PWD/corpus}; fetch it with bench/corpus.sh (or set PATCHKIT_CORPUS)" >&2
  exit 1
fi
STRIDE=${STRIDE:-1}
# The CLI's crash and disk-full scripts (cmd/patchkit/testdata/crash) need a crashtest build too.
go test -tags crashtest -count=1 -run TestCrashScripts ./cmd/patchkit
work=$(mktemp -d "${TMPDIR:-/tmp}/patchkit-crash.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -tags crashtest -o "$work/patchkit" ./cmd/patchkit
PK=$work/patchkit
cd "$work"
export PATCHKIT_PASSWORD=pw SOURCE_DATE_EPOCH=1780000000
$PK key generate --output-key-prefix rel 2>/dev/null
$PK create --base "$B" --target "$A" --component libssl3 --base-version 3.0.17-1~deb12u2 --label '3.0.20 (a)' --sequence 1 -o a.pkb 2>/dev/null
$PK create --base "$B" --target "$T" --component libssl3 --base-version 3.0.17-1~deb12u2 --label '3.0.22 (b)' --sequence 2 -o b.pkb 2>/dev/null
$PK sign a.pkb --key rel.key 2>/dev/null
$PK sign b.pkb --key rel.key 2>/dev/null
cp -a "$B" clean
cp -a "$B" with-a
$PK apply a.pkb --root with-a --key rel.pub 2>/dev/null

total=0 mixed=0 old=0 new=0 bad=0
# scenario NAME TEMPLATE BEFORE-TREE BEFORE-IDS AFTER-TREE AFTER-IDS COMMAND...
scenario() {
  local name=$1 tmpl=$2 before=$3 ids_before=$4 after=$5 ids_after=$6
  shift 6
  rm -rf r && cp -a "$tmpl" r
  local n
  n=$(PATCHKIT_CRASH_TRACE=1 "$@" 2>&1 >/dev/null | grep -c '^patchkit: step ' || true)
  local k
  for ((k = 1; k <= n; k += STRIDE)); do
    rm -rf r && cp -a "$tmpl" r
    local rc=0
    { PATCHKIT_CRASH_AFTER=$k "$@" >/dev/null 2>&1 || rc=$?; } 2>/dev/null   # no "Killed" notices
    if [ "$rc" -ne 137 ]; then
      echo "$name k=$k: exit $rc, not killed"; bad=$((bad + 1)); continue
    fi
    local st ids
    st=$($PK status --root r --json 2>/dev/null) || { echo "$name k=$k: status failed"; bad=$((bad + 1)); continue; }
    ids=$(grep -o '"id": "[^"]*"' <<<"$st" | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//' || true)
    total=$((total + 1))
    if diff -r -q -x .patchkit r "$before" >/dev/null; then
      old=$((old + 1))
      [ "$ids" = "$ids_before" ] || { echo "$name k=$k: old tree but status lists '$ids'"; bad=$((bad + 1)); }
    elif diff -r -q -x .patchkit r "$after" >/dev/null; then
      new=$((new + 1))
      [ "$ids" = "$ids_after" ] || { echo "$name k=$k: new tree but status lists '$ids'"; bad=$((bad + 1)); }
    else
      echo "$name k=$k: MIXED TREE"; diff -r -q -x .patchkit r "$before" || true
      mixed=$((mixed + 1))
    fi
  done
  echo "$name: $n steps"
}
scenario apply clean "$B" "" "$T" "libssl3-2" $PK apply b.pkb --root r --key rel.pub
scenario remove with-a "$A" "libssl3-1" "$B" "" $PK remove --root r
scenario supersede with-a "$A" "libssl3-1" "$T" "libssl3-2" $PK apply b.pkb --root r --key rel.pub
echo "crashtest: $total kill points, $old old tree, $new new tree, $mixed mixed, $bad other failures"
[ "$mixed" -eq 0 ] && [ "$bad" -eq 0 ] && [ "$total" -gt 0 ]
