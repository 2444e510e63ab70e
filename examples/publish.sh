#!/usr/bin/env bash
# A release pipeline that publishes to a channel, then a machine that follows it.
#
#   examples/publish.sh                       local run: a throwaway registry (the
#                                             distribution "registry" binary) if one is
#                                             installed, else an OCI layout directory
#   CHANNEL=registry.example.com/patchkit/libdemo:stable \
#   PATCHKIT_REGISTRY_USERNAME=ci PATCHKIT_REGISTRY_PASSWORD=... \
#   RELEASE_KEY=release.key CHANNEL_KEY=channel.key examples/publish.sh   in CI
#
# Stages, each a gate: create (reproducible) → sign (release key) → verify against the
# release policy → publish (the bundle blob, its manifest, then the signed index, tag
# last) → a machine runs update --check (exit 100: available) and update. Then the
# (a) → recall + (b) reissue step, and the index refresh a timer must run within --ttl.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/patchkit ./cmd/patchkit
pk=bin/patchkit
work=$(mktemp -d)
regpid=
cleanup() { [ -n "$regpid" ] && kill "$regpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export SOURCE_DATE_EPOCH=1767225600
export PATCHKIT_PASSWORD=${PATCHKIT_PASSWORD:-example}
plain=()

if [ -z "${CHANNEL:-}" ]; then
  if command -v registry >/dev/null || [ -x "$(go env GOPATH)/bin/registry" ]; then
    reg=$(command -v registry || echo "$(go env GOPATH)/bin/registry")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$work/registry.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
CFG
    OTEL_TRACES_EXPORTER=none "$reg" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    regpid=$!
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    CHANNEL=127.0.0.1:$port/patchkit/libdemo:stable
    plain=(--plain-http)
  else
    CHANNEL=oci:$work/mirror:stable
  fi
fi
echo "channel: $CHANNEL"

# Keys: the release key signs bundles and recall lists; the channel key signs the index.
if [ -z "${RELEASE_KEY:-}" ]; then
  $pk key generate --output-key-prefix "$work/release" >/dev/null
  $pk key generate --output-key-prefix "$work/channel" >/dev/null
  RELEASE_KEY=$work/release.key CHANNEL_KEY=$work/channel.key
fi
trust=(--key "${RELEASE_KEY%.key}.pub" --key "${CHANNEL_KEY%.key}.pub")

# (a): create, sign, verify, publish.
$pk create --base examples/small/base --target examples/small/target \
  --component libdemo --base-version 1.0-1 --target-version 1.0-2 \
  --label "1.0 (a)" --sequence 1 --cve CVE-2026-0001 -o "$work/a.pkb"
$pk sign "$work/a.pkb" --key "$RELEASE_KEY"
$pk verify "$work/a.pkb" "${trust[@]}" --base examples/small/base >/dev/null
$pk publish "$CHANNEL" "$work/a.pkb" --signing-key "$CHANNEL_KEY" "${trust[@]}" "${plain[@]}" --ttl 24h

# A machine: automatic install off reports (exit 100), on installs.
cp -a examples/small/base "$work/root"
rc=0; $pk update --root "$work/root" --channel "$CHANNEL" "${trust[@]}" "${plain[@]}" --check || rc=$?
[ "$rc" = 100 ] || { echo "update --check: exit $rc, want 100"; exit 1; }
$pk update --root "$work/root" --channel "$CHANNEL" "${trust[@]}" "${plain[@]}"
cmp "$work/root/usr/lib/libdemo.so.1.0" examples/small/target/usr/lib/libdemo.so.1.0

# (a) is recalled; (b) reissues the fix with a higher sequence: one publish, one index.
$pk create --base examples/small/base --target examples/small/target \
  --component libdemo --base-version 1.0-1 --target-version 1.0-2 \
  --label "1.0 (b)" --sequence 2 --cve CVE-2026-0001 -o "$work/b.pkb"
$pk sign "$work/b.pkb" --key "$RELEASE_KEY"
$pk recall create --bundle "$work/a.pkb" --reason "breaks the demo" --sequence 1 --key "$RELEASE_KEY" -o "$work/recall.json"
$pk publish "$CHANNEL" "$work/b.pkb" --recall "$work/recall.json" --signing-key "$CHANNEL_KEY" "${trust[@]}" "${plain[@]}"
$pk update --root "$work/root" --channel "$CHANNEL" "${trust[@]}" "${plain[@]}"
$pk status --root "$work/root"

# The timer job of the pipeline: re-sign the index well within --ttl (no change).
$pk publish "$CHANNEL" --signing-key "$CHANNEL_KEY" "${trust[@]}" "${plain[@]}"
echo "ok: published, installed, recalled and reissued through $CHANNEL"
