#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, race-enabled tests, a short run of
# every fuzz target, and the interop checks whose tools are installed.
#   FUZZTIME=10m scripts/test.sh     longer fuzzing (default 10s per target)
#   STRIDE=1 scripts/test.sh         crash test at every kill point (default every 4th)
# Tests that need the real Debian corpus use $PATCHKIT_CORPUS (.ci/run fetches it with
# bench/corpus.sh) and are skipped without it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...
echo "== layering"; scripts/layering.sh

if command -v staticcheck >/dev/null; then
  echo "== staticcheck"
  staticcheck ./...
else
  echo "== staticcheck: not installed, skipped (.ci/run installs it)"
fi

if command -v govulncheck >/dev/null; then
  echo "== govulncheck"
  govulncheck ./...
else
  echo "== govulncheck: not installed, skipped (it needs vuln.go.dev, which CI here cannot reach)"
fi

echo "== go test -race"
go test -race -count=1 ./...

echo "== crash test of pkg/install without -race (every step of apply, remove, supersede)"
go test -count=1 -run TestCrash ./pkg/install

echo "== fuzz (${FUZZTIME:-10s} per target)"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 0 "$pkg" | tail -1
  done
done

echo "== cosign interop (when cosign is on PATH)"
sh scripts/cosign-interop.sh --if-available

echo "== crash test, quick variant (every ${STRIDE:-4}th kill point; needs the corpus)"
STRIDE=${STRIDE:-4} scripts/crashtest.sh
echo "== all tests passed"
