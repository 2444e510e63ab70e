#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, race-enabled tests, a short run of
# every fuzz target, and the interop checks whose tools are installed.
#   FUZZTIME=10m scripts/test.sh     longer fuzzing (default 10s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...

if command -v staticcheck >/dev/null; then
  echo "== staticcheck"
  staticcheck ./...
else
  echo "== staticcheck: not installed, skipped (.ci/run installs it)"
fi

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (${FUZZTIME:-10s} per target)"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 0 "$pkg" | tail -1
  done
done

for s in scripts/interop-*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  bash "$s"
done
echo "== all tests passed"
