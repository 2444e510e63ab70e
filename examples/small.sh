#!/usr/bin/env bash
# The whole job on a tiny built-in pair of trees, no network needed:
# create a bundle, inspect it, extract it on its base and compare with the target.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/patchkit ./cmd/patchkit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1767225600

bin/patchkit create --base examples/small/base --target examples/small/target \
  --component libdemo --base-version 1.0-1 --target-version 1.0-2 \
  --label "1.0 (a)" --sequence 1 --cve CVE-2026-0001 -o "$work/libdemo.pkb"
bin/patchkit inspect "$work/libdemo.pkb"
tar -tvf "$work/libdemo.pkb"
bin/patchkit extract "$work/libdemo.pkb" --base examples/small/base -o "$work/out"
cmp "$work/out/usr/lib/libdemo.so.1.0" examples/small/target/usr/lib/libdemo.so.1.0
echo "ok: extracted files match the target tree"
