#!/usr/bin/env bash
# The whole job on real Debian security updates:
#   libssl3 3.0.17 -> 3.0.22 (OpenSSL code fixes) and libwebkit2gtk 2.50.6 u1 -> u2.
# Fetches the packages from Debian (apt-get download) into $PATCHKIT_CORPUS (default
# ./corpus), builds patchkit and makes two release keys, then for each pair:
#   release side: create the bundle twice (the bytes must match), sign it with both
#     keys, verify it 2-of-2 against the old tree, list it with tar, inspect it, extract
#     it on the old tree and compare every changed file with the new tree;
#   device side: apply it to a copy of the old tree (diff -r against the new tree),
#     status, remove (diff -r against the old tree).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${PATCHKIT_CORPUS:-$PWD/corpus}
out=${OUT:-$PWD/out}
mkdir -p "$out"
bench/corpus.sh "$corpus" >/dev/null
go build -o bin/patchkit ./cmd/patchkit
pk=bin/patchkit
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
export PATCHKIT_PASSWORD=${PATCHKIT_PASSWORD:-example-only}
for k in release1 release2; do
  [ -e "$out/$k.key" ] || $pk key generate --output-key-prefix "$out/$k"
done

run_pair() {
  local name=$1 comp=$2 old=$3 new=$4 label=$5 seq=$6 exclude=${7:-}
  local excl=() diffx=()
  if [ -n "$exclude" ]; then excl=(--exclude "$exclude"); diffx=(--exclude "$(basename "$exclude")"); fi
  local base=$corpus/$comp/$old target=$corpus/$comp/$new pkb=$out/$name.pkb
  echo "== $name: $comp $old -> $new"
  local t0=$(date +%s%N)
  $pk create --base "$base" --target "$target" --component "$comp" \
    --base-version "$old" --target-version "$new" --label "$label" --sequence "$seq" "${excl[@]}" -o "$pkb"
  local t1=$(date +%s%N)
  $pk create --base "$base" --target "$target" --component "$comp" \
    --base-version "$old" --target-version "$new" --label "$label" --sequence "$seq" "${excl[@]}" -o "$pkb.again"
  if ! cmp -s "$pkb" "$pkb.again"; then echo "FAIL: $name is not reproducible" >&2; exit 1; fi
  rm "$pkb.again"
  printf 'create: %d ms, %s bytes, sha256 %s (reproduced)\n' $(((t1 - t0) / 1000000)) \
    "$(stat -c %s "$pkb")" "$(sha256sum "$pkb" | cut -c1-16)"
  $pk sign "$pkb" --key "$out/release1.key" --key "$out/release2.key"
  $pk verify "$pkb" --key "$out/release1.pub" --key "$out/release2.pub" --threshold 2 --base "$base"
  tar -tvf "$pkb" | sed -n 1,4p   # sed reads to the end: no SIGPIPE under pipefail
  $pk inspect "$pkb"
  rm -rf "$out/$name.extracted"
  $pk extract "$pkb" --key "$out/release1.pub" --base "$base" -o "$out/$name.extracted"
  local n=0
  while IFS= read -r -d '' f; do
    rel=${f#"$out/$name.extracted/"}
    cmp "$f" "$target/$rel"
    n=$((n + 1))
  done < <(find "$out/$name.extracted" -type f -print0)
  echo "ok: $n extracted files identical to the new tree"

  local root=$out/$name.root
  rm -rf "$root" && cp -a "$base" "$root"
  $pk apply "$pkb" --root "$root" --key "$out/release1.pub" --key "$out/release2.pub" --threshold 2
  diff -r --exclude=.patchkit "${diffx[@]}" "$root" "$target"
  echo "ok: applied tree identical to the new tree${exclude:+ (outside $exclude)}"
  $pk status --root "$root"
  $pk remove --root "$root"
  diff -r --exclude=.patchkit "$root" "$base"
  echo "ok: removed, tree identical to the old tree"
  echo
}

run_pair libssl3 libssl3 3.0.17-1~deb12u2 3.0.22-1~deb12u2 "3.0.22 (a)" 22
# Debian's changelog.Debian.gz changes whole with every upload; a security patch leaves
# it out, and the WebKit bundle is then the 92 MB library's delta alone.
run_pair webkit2gtk webkit2gtk 2.50.6-1~deb12u1 2.50.6-1~deb12u2 "2.50.6 (a)" 2 usr/share/doc
