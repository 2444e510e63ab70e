#!/usr/bin/env bash
# Fetch real Debian security updates of WebKit and system libraries and unpack
# every version into its own tree: DEST/<name>/<version>/usr/lib/...
#
#   bench/corpus.sh [DEST]                default DEST: $PATCHKIT_CORPUS, else ./corpus
#                                         at the repository root (git-ignored), where
#                                         every test, script and bench looks
#   WITH_CHROMIUM=1 bench/corpus.sh       also the large Chromium 150 -> 156 pair
#   NO_APT_UPDATE=1 bench/corpus.sh       skip apt-get update
#
# A DEST that already holds the trees is reused as it is. Prints one line per
# unpacked version: "<name> <version> <dir>".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DEST=${1:-${PATCHKIT_CORPUS:-$here/../corpus}}
mkdir -p "$DEST/debs"
DEST=$(cd "$DEST" && pwd)

# name  package  versions (old -> new ...)
PAIRS=(
  "webkit2gtk libwebkit2gtk-4.1-0 2.50.6-1~deb12u1 2.50.6-1~deb12u2"
  "jscoregtk libjavascriptcoregtk-4.1-0 2.50.6-1~deb12u1 2.50.6-1~deb12u2"
  "libssl3 libssl3 3.0.17-1~deb12u2 3.0.20-1~deb12u2 3.0.22-1~deb12u2"
  "libnss3 libnss3 2:3.87.1-1+deb12u2 2:3.87.1-1+deb12u4"
)
[ -z "${WITH_CHROMIUM:-}" ] || PAIRS+=("chromium chromium 150.0.7871.100-1~deb12u1 156.0.8078.114-1~deb12u1")

updated=${NO_APT_UPDATE:-}
gone=()
for line in "${PAIRS[@]}"; do
  read -r name pkg vers <<<"$line"
  for v in $vers; do
    out="$DEST/$name/${v#*:}"
    if [ ! -d "$out" ]; then
      cd "$DEST/debs"
      deb=$(ls "${pkg}_${v/:/%3a}_"*.deb 2>/dev/null || true)   # apt writes ':' as %3a
      if [ -z "$deb" ]; then
        [ -n "$updated" ] || { apt-get update -qq; updated=1; }
        if ! apt-get download -qq -o APT::Sandbox::User=root "${pkg}=${v}" 2>/dev/null; then
          served=$(apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); printf "%s ", $2}')
          echo "corpus.sh: pinned version ${pkg}=${v} is no longer served by the archive" \
            "(served now: ${served:-none}); skipping it: update PAIRS in bench/corpus.sh" >&2
          gone+=("${pkg}=${v}")
          continue
        fi
        deb=$(ls "${pkg}_${v/:/%3a}_"*.deb)
      fi
      mkdir -p "$out.tmp"
      dpkg-deb -x "$deb" "$out.tmp"
      mv "$out.tmp" "$out"
    fi
    echo "$name ${v#*:} $out"
  done
done
if [ ${#gone[@]} -gt 0 ]; then
  echo "corpus.sh: ${#gone[@]} pinned version(s) not served, their pairs are missing: ${gone[*]}" >&2
fi
