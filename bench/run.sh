#!/usr/bin/env bash
# Benchmark pkg/delta against bsdiff, xdelta3 -9 and zstd --patch-from -19 on
# real Debian security updates, side by side in one run, and print one
# markdown table: for every changed regular file of every pair and every
# tool, patch bytes, ratio to bsdiff, create time and peak RSS, apply time
# and peak RSS, and whether the patch reproduced the new file (cmp).
#
#   bench/run.sh [CORPUS]           CORPUS: existing corpus dir, or where to fetch it
#   PATCHKIT_CORPUS=/path bench/run.sh
#   REPEAT=3 bench/run.sh           runs per measurement, median reported (default 3;
#                                   bsdiff and zstd run once on files > 32 MiB)
#   ONLY=libssl3 bench/run.sh       only pairs whose name matches
#   TOOLS="patchkit bsdiff" ...     subset of: patchkit bsdiff xdelta3 zstd
#
# Installs bsdiff, xdelta3, zstd and GNU time with apt-get when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpus=${1:-${PATCHKIT_CORPUS:-$here/corpus}}
REPEAT=${REPEAT:-3}
TOOLS=${TOOLS:-"patchkit bsdiff xdelta3 zstd"}
out=$here/out
mkdir -p "$out"

need=()
command -v bsdiff >/dev/null || need+=(bsdiff)
command -v xdelta3 >/dev/null || need+=(xdelta3)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "run.sh: installing ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

(cd "$root" && go build -o "$out/deltabench" ./bench/cmd/deltabench)
"$here/corpus.sh" "$corpus" >"$out/versions.txt"

# Pairs: consecutive versions of each name, plus first -> last when there are
# more than two (the libssl3 17 -> 22 pair quoted in issue 6).
pairs=()
prev_name= ; first= ; prev=
while read -r name ver dir; do
  if [ "$name" = "$prev_name" ]; then
    pairs+=("$name $prev $dir")
  else
    first=$dir
  fi
  if [ "$name" = "$prev_name" ] && [ "$first" != "$prev" ]; then
    pairs+=("$name $first $dir")
  fi
  prev_name=$name; prev=$dir
done <"$out/versions.txt"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure CMD...: runs CMD ($reps times) under GNU time; sets $secs (wall),
# $cpu (user+sys) and $rss (MB) to the medians.
measure() {
  local t u s m ts=() cs=() ms=() i
  for ((i = 0; i < reps; i++)); do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || {
      echo "run.sh: failed: $*" >&2; cat "$out/stderr" >&2; return 1; }
    read -r t u s m <"$out/time"
    ts+=("$t"); ms+=("$m"); cs+=("$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')")
  done
  secs=$(printf '%s\n' "${ts[@]}" | median)
  cpu=$(printf '%s\n' "${cs[@]}" | median)
  rss=$(printf '%s\n' "${ms[@]}" | median | awk '{printf "%.0f", $1/1024}')
}

wlog() { # zstd --long window log for a size
  local s=$1 w=10
  while ((1 << w < s)); do w=$((w + 1)); done
  echo $((w < 31 ? w : 31))
}

printf '| pair | file | old → new bytes | tool | patch bytes | × bsdiff | create s | create cpu s | create MB | apply s | apply cpu s | apply MB | round trip |\n'
printf '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
identical=0
for p in "${pairs[@]}"; do
  read -r name a b <<<"$p"
  [[ -z "${ONLY:-}" || "$name" == *${ONLY}* ]] || continue
  label="$name $(basename "$a") → $(basename "$b")"
  while read -r rel; do
    [ -f "$a/$rel" ] && [ ! -L "$a/$rel" ] || continue
    if cmp -s "$a/$rel" "$b/$rel"; then identical=$((identical + 1)); continue; fi
    old=$a/$rel new=$b/$rel
    osz=$(stat -c %s "$old") nsz=$(stat -c %s "$new")
    big=$(( osz > 32 << 20 ))
    declare -A size=() row=()
    for tool in $TOOLS; do
      reps=$REPEAT
      patch=$out/patch.$tool res=$out/new.$tool
      rm -f "$patch" "$res"
      case $tool in
      patchkit)
        measure "$out/deltabench" diff "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure "$out/deltabench" apply "$old" "$patch" "$res" ;;
      bsdiff)
        ((big)) && reps=1
        measure bsdiff "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure bspatch "$old" "$res" "$patch" ;;
      xdelta3)
        # -D -R: no external (de)compression of .gz inputs
        measure xdelta3 -9 -D -R -f -e -s "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure xdelta3 -D -R -f -d -s "$old" "$patch" "$res" ;;
      zstd)
        ((big)) && reps=1
        w=$(wlog $((osz > nsz ? osz : nsz)))
        measure zstd -q -f -19 --long="$w" --patch-from="$old" "$new" -o "$patch"; cs=$secs cc=$cpu cm=$rss
        measure zstd -q -f -d --long="$w" --patch-from="$old" "$patch" -o "$res" ;;
      esac
      ok=yes; cmp -s "$res" "$new" || ok=NO
      size[$tool]=$(stat -c %s "$patch")
      row[$tool]="${size[$tool]}|$cs|$cc|$cm|$secs|$cpu|$rss|$ok"
    done
    for tool in $TOOLS; do
      IFS='|' read -r bytes cs cc cm as ac am ok <<<"${row[$tool]}"
      ratio=-
      [ -z "${size[bsdiff]:-}" ] || ratio=$(awk -v a="$bytes" -v b="${size[bsdiff]}" 'BEGIN {printf "%.2f", a/b}')
      printf '| %s | %s | %s → %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$label" "${rel#./}" "$osz" "$nsz" "$tool" "$bytes" "$ratio" "$cs" "$cc" "$cm" "$as" "$ac" "$am" "$ok"
    done
    unset size row
  done < <(cd "$b" && find . -type f | LC_ALL=C sort)
done
echo
echo "Identical files skipped: $identical. Times are medians of $REPEAT runs (bsdiff and zstd: 1 run on files > 32 MiB): s is wall time, cpu s is user + sys; MB is peak RSS. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
