#!/usr/bin/env bash
# The release engineer's job on real Debian security updates:
#   libssl3 3.0.17 -> 3.0.22 (OpenSSL code fixes) and libwebkit2gtk 2.50.6 u1 -> u2.
# Fetches the packages from Debian (apt-get download) into $PATCHKIT_CORPUS (default
# ./corpus), builds patchkit, then for each pair: create the bundle twice (the bytes must
# match), list it with tar, inspect it, and extract it on the old tree and compare every
# changed file with the new tree. Debian's changelogs (usr/share/doc) are left out: they
# are not part of a security patch.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${PATCHKIT_CORPUS:-$PWD/corpus}
out=${OUT:-$PWD/out}
mkdir -p "$out"
bench/corpus.sh "$corpus" >/dev/null
go build -o bin/patchkit ./cmd/patchkit
pk=bin/patchkit
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}

run_pair() {
  local name=$1 comp=$2 old=$3 new=$4 label=$5 seq=$6
  local base=$corpus/$comp/$old target=$corpus/$comp/$new pkb=$out/$name.pkb
  echo "== $name: $comp $old -> $new"
  local t0=$(date +%s%N)
  $pk create --base "$base" --target "$target" --component "$comp" \
    --base-version "$old" --target-version "$new" --label "$label" --sequence "$seq" --exclude usr/share/doc -o "$pkb"
  local t1=$(date +%s%N)
  $pk create --base "$base" --target "$target" --component "$comp" \
    --base-version "$old" --target-version "$new" --label "$label" --sequence "$seq" --exclude usr/share/doc -o "$pkb.again"
  if ! cmp -s "$pkb" "$pkb.again"; then echo "FAIL: $name is not reproducible" >&2; exit 1; fi
  rm "$pkb.again"
  printf 'create: %d ms, %s bytes, sha256 %s (reproduced)\n' $(((t1 - t0) / 1000000)) \
    "$(stat -c %s "$pkb")" "$(sha256sum "$pkb" | cut -c1-16)"
  tar -tvf "$pkb" | head -3
  $pk inspect "$pkb"
  rm -rf "$out/$name.extracted"
  $pk extract "$pkb" --base "$base" -o "$out/$name.extracted"
  local n=0
  while IFS= read -r -d '' f; do
    rel=${f#"$out/$name.extracted/"}
    cmp "$f" "$target/$rel"
    n=$((n + 1))
  done < <(find "$out/$name.extracted" -type f -print0)
  echo "ok: $n extracted files identical to the new tree"
  echo
}

run_pair libssl3 libssl3 3.0.17-1~deb12u2 3.0.22-1~deb12u2 "3.0.22 (a)" 22
run_pair webkit2gtk webkit2gtk 2.50.6-1~deb12u1 2.50.6-1~deb12u2 "2.50.6 (a)" 2
