#!/usr/bin/env bash
# Benchmark pkg/delta against HDiffPatch (hdiffz), bsdiff, xdelta3 -9 and
# zstd --patch-from -19 on real Debian security updates, side by side in one
# run, and print one markdown table: for every changed regular file of every
# pair and every tool, patch bytes, ratios to hdiffz and bsdiff, create time,
# CPU time, peak RSS (and RSS per old byte), apply time and peak RSS, and
# whether the patch reproduced the new file byte for byte (cmp). Totals and
# ratios per tool follow the table.
#
#   bench/run.sh [CORPUS]           CORPUS: existing corpus dir, or where to fetch it
#   PATCHKIT_CORPUS=/path bench/run.sh
#   REPEAT=3 bench/run.sh           runs per measurement, median reported (default 3;
#                                   every tool runs once on files > 32 MiB)
#   ONLY=libssl3 bench/run.sh       only pairs whose name matches
#   TOOLS="patchkit hdiffz" ...     subset of: patchkit hdiffz bsdiff xdelta3 zstd
#   WITH_CHROMIUM=1 bench/run.sh    the large Chromium 150 -> 156 pair only (fetched by
#                                   bench/corpus.sh); bsdiff is skipped there (20+ min)
#   CHECK_CORES=1 bench/run.sh      also diff with GOMAXPROCS=1 and check the patch is the same
#   PEER_TOOLS=/dir                 where hdiffz and hpatchz are (default
#                                   /work/shared/tools, else $PATH)
#
# Installs bsdiff, xdelta3, zstd and GNU time with apt-get when missing. A peer
# that is still missing (hdiffz is not packaged by Debian) is skipped with a note.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpus=${1:-${PATCHKIT_CORPUS:-$root/corpus}}
REPEAT=${REPEAT:-3}
TOOLS=${TOOLS:-"patchkit hdiffz bsdiff xdelta3 zstd"}
out=$here/out
mkdir -p "$out"

if [ -n "${WITH_CHROMIUM:-}" ]; then
  ONLY=${ONLY:-chromium}
  export WITH_CHROMIUM
fi

need=()
command -v bsdiff >/dev/null || need+=(bsdiff)
command -v xdelta3 >/dev/null || need+=(xdelta3)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "run.sh: installing ${need[*]}" >&2
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2 || true
fi
[ -x /usr/bin/time ] || { echo "run.sh: GNU time (/usr/bin/time) is required" >&2; exit 1; }

peer=${PEER_TOOLS:-/work/shared/tools}
HDIFFZ=$peer/hdiffz HPATCHZ=$peer/hpatchz
[ -x "$HDIFFZ" ] || HDIFFZ=$(command -v hdiffz || true)
[ -x "$HPATCHZ" ] || HPATCHZ=$(command -v hpatchz || true)

# Drop tools that are not installed, with a note in the output.
notes=()
tools=()
for tool in $TOOLS; do
  case $tool in
  patchkit) ok=1 ;;
  hdiffz) [ -n "$HDIFFZ" ] && [ -n "$HPATCHZ" ] && ok=1 || ok= ;;
  bsdiff) command -v bsdiff >/dev/null && command -v bspatch >/dev/null && ok=1 || ok= ;;
  xdelta3) command -v xdelta3 >/dev/null && ok=1 || ok= ;;
  zstd) command -v zstd >/dev/null && ok=1 || ok= ;;
  *) echo "run.sh: unknown tool $tool" >&2; exit 2 ;;
  esac
  if [ -n "$ok" ]; then tools+=("$tool"); else notes+=("$tool is not installed: skipped"); fi
done

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
# $cpu (user+sys) and $rss (peak RSS, KiB) to the medians.
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
  rss=$(printf '%s\n' "${ms[@]}" | median)
}

wlog() { # zstd --long window log for a size
  local s=$1 w=10
  while ((1 << w < s)); do w=$((w + 1)); done
  echo $((w < 31 ? w : 31))
}

ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}' || echo -; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
printf '| pair | file | old → new bytes | tool | patch bytes | × hdiffz | × bsdiff | create s | create cpu s | create MB | create B/old B | apply s | apply cpu s | apply MB | apply MB/s (cpu) | round trip |\n'
printf '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
identical=0
declare -A total=() common=()
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
    huge=$(( osz > 64 << 20 ))
    declare -A size=() row=()
    for tool in "${tools[@]}"; do
      reps=$REPEAT
      ((big)) && reps=1
      if [ "$tool" = bsdiff ] && ((huge)) && [ -n "${WITH_CHROMIUM:-}" ]; then
        notes+=("bsdiff skipped on ${rel#./} ($osz bytes): it takes 20+ minutes and 2.5 GB")
        continue
      fi
      patch=$out/patch.$tool res=$out/new.$tool
      rm -f "$patch" "$res"
      case $tool in
      patchkit)
        measure "$out/deltabench" diff "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        if [ -n "${CHECK_CORES:-}" ]; then
          GOMAXPROCS=1 "$out/deltabench" diff "$old" "$new" "$patch.1core"
          same=yes; cmp -s "$patch" "$patch.1core" || same=NO
          notes+=("patchkit patch of ${rel#./} byte-identical on 1 and 2 cores: $same")
          rm -f "$patch.1core"
        fi
        measure "$out/deltabench" apply "$old" "$patch" "$res" ;;
      hdiffz)
        # -f: the second of REPEAT runs overwrites the first one's patch
        measure "$HDIFFZ" -m-6 -SD -c-zstd-21-24 -p-1 -f "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure "$HPATCHZ" -p-1 -f "$old" "$patch" "$res" ;;
      bsdiff)
        measure bsdiff "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure bspatch "$old" "$res" "$patch" ;;
      xdelta3)
        # -D -R: no external (de)compression of .gz inputs
        measure xdelta3 -9 -D -R -f -e -s "$old" "$new" "$patch"; cs=$secs cc=$cpu cm=$rss
        measure xdelta3 -D -R -f -d -s "$old" "$patch" "$res" ;;
      zstd)
        w=$(wlog $((osz > nsz ? osz : nsz)))
        measure zstd -q -f -19 --long="$w" --patch-from="$old" "$new" -o "$patch"; cs=$secs cc=$cpu cm=$rss
        measure zstd -q -f -d --long="$w" --patch-from="$old" "$patch" -o "$res" ;;
      esac
      ok=yes; cmp -s "$res" "$new" || ok=NO
      size[$tool]=$(stat -c %s "$patch")
      perold=$(awk -v m="$cm" -v o="$osz" 'BEGIN {printf "%.2f", m*1024/(o > 0 ? o : 1)}')
      mbs=$(awk -v n="$nsz" -v c="$cpu" 'BEGIN {if (c > 0) printf "%.0f", n/1e6/c; else print "-"}')
      row[$tool]="${size[$tool]}|$cs|$cc|$((cm / 1024))|$perold|$secs|$cpu|$((rss / 1024))|$mbs|$ok"
      rm -f "$res"
    done
    for tool in "${tools[@]}"; do
      [ -n "${row[$tool]:-}" ] || continue
      IFS='|' read -r bytes cs cc cm perold as ac am mbs ok <<<"${row[$tool]}"
      printf '| %s | %s | %s → %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$label" "${rel#./}" "$osz" "$nsz" "$tool" "$bytes" "$(ratio "$bytes" "${size[hdiffz]:-}")" \
        "$(ratio "$bytes" "${size[bsdiff]:-}")" "$cs" "$cc" "$cm" "$perold" "$as" "$ac" "$am" "$mbs" "$ok"
      total[$tool]=$(( ${total[$tool]:-0} + bytes ))
    done
    # Files every tool ran on, for totals that compare like with like.
    all=1
    for tool in "${tools[@]}"; do [ -n "${row[$tool]:-}" ] || all=; done
    if [ -n "$all" ]; then
      for tool in "${tools[@]}"; do
        IFS='|' read -r bytes _ <<<"${row[$tool]}"
        common[$tool]=$(( ${common[$tool]:-0} + bytes ))
      done
    fi
    unset size row
  done < <(cd "$b" && find . -type f | LC_ALL=C sort)
done
echo
echo "Totals (patch bytes over every changed file a tool ran on; ratios over the files every tool ran on):"
echo
for tool in "${tools[@]}"; do
  [ -n "${total[$tool]:-}" ] || continue
  printf -- '- %s: %s B; on common files %s B = %s × hdiffz, %s × bsdiff\n' "$tool" "${total[$tool]}" \
    "${common[$tool]:-0}" "$(ratio "${common[$tool]:-0}" "${common[hdiffz]:-}")" "$(ratio "${common[$tool]:-0}" "${common[bsdiff]:-}")"
done
echo
for n in "${notes[@]}"; do echo "Note: $n."; done
echo "Identical files skipped: $identical. Times are medians of $REPEAT runs (1 run on files > 32 MiB): s is wall time, cpu s is user + sys; MB is peak RSS (GNU time %M); apply MB/s is new bytes per apply CPU second. hdiffz: -m-6 -SD -c-zstd-21-24 -p-1, hpatchz -p-1. Load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
