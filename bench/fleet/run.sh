#!/usr/bin/env bash
# The fleet benchmark of docs/channels.md: N goroutine machines against a real
# loopback registry (distribution, htpasswd auth), each running update --check,
# update, and update again. Needs the "registry" binary (.ci/run installs it).
#   bench/fleet/run.sh                    N = 100, 1,000, 10,000 (about 5 minutes on 2 cores)
#   FLEET=100,1000 bench/fleet/run.sh     other sizes
# Writes the table to stdout and the figures to bench/fleet/results.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:$(go env GOPATH)/bin"
export PATCHKIT_FLEET_OUT="$PWD/bench/fleet/results.json"
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./pkg/channel -run '^TestFleet$' -v -count=1 -timeout 60m -fleet "${FLEET:-100,1000,10000}" | grep -E 'fleet_test|PASS|FAIL'
echo "figures: $PATCHKIT_FLEET_OUT"
