#!/usr/bin/env bash
# Repository benchmark: Keel vs createrepo_c on the same 1,000 real RPMs,
# alternating runs in one script (this machine drifts between rounds).
#   cold:   metadata for the whole set    keel repo index  vs createrepo_c
#   update: add one package to the repo   keel repo index (signed, and --unsigned: createrepo_c
#           does not sign) / publish vs createrepo_c --update
# Everything runs in fresh directories on tmpfs (see FIELD-NOTES: measuring).
# Prints medians of wall time (and user+sys CPU) and the ratios.
# KEEL_BENCH_BEFORE=/path/to/keel adds a second keel binary (say, main's
# before a change) to the same rounds: its cold index and signed one-package
# update alternate with this tree's, and both ratios are printed. It is run
# with --dir, which every keel since the repository commands accept.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-7}
cache=${KEEL_BENCH_CACHE:-$HOME/.cache/keel/bench}
"$here/bench/repo-gen.sh" >/dev/null
rpms=$cache/rpms
extra=$(ls "$cache"/extra/*.rpm)
work=$(mktemp -d /dev/shm/keel-bench-repo.XXXXXX)
trap 'rm -rf "$work"' EXIT
# keel is built as `make build` builds it and runs from disk, as bin/keel
# does and as createrepo_c runs from /usr/bin: a binary kept in tmpfs
# starts ~0.7 ms slower (its text pages fault in through shmem, one 4 KiB
# page at a time), a tenth of a one-package update. KEEL_BENCH_BIN_TMPFS=1
# keeps the old placement.
if [ -n "${KEEL_BENCH_BIN_TMPFS:-}" ]; then bindir=$work; else bindir=$(mktemp -d "$cache/bin.XXXXXX"); fi
trap 'rm -rf "$work" "$bindir"' EXIT
(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$bindir/keel" ./cmd/keel) # as make build does
keel=$bindir/keel
before=${KEEL_BENCH_BEFORE:-}
export KEEL_KEYS=$work/keys SOURCE_DATE_EPOCH=1700000000
"$keel" keys init >/dev/null

# t NAME CMD...: append "wall-s cpu-s" of one run to $work/NAME. Wall is
# perf's duration_time (the command's own run, without perf's start-up,
# which on a loaded machine added ~60 ms to every run and swamped the short
# ones); CPU is perf's task-clock (all threads): on a shared, loaded 2-core
# machine it is the steadier of the two.
t() {
  local name=$1; shift
  perf stat -x, -e task-clock,duration_time -o "$work/.t" "$@" >/dev/null 2>&1
  awk -F, '$3 ~ /task-clock/ {c = $1 / 1000} $3 ~ /duration_time/ {w = $1 / 1e9} END {printf "%.6f %.6f\n", w, c}' "$work/.t" >> "$work/$name"
}
median() { sort -n -k"$2" "$work/$1" | awk -v k="$2" '{a[NR]=$k} END {print a[int((NR+1)/2)]}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
  c=$work/r$r-crc k=$work/r$r-keel g=$work/r$r-keelgz p=$work/r$r-pub u=$work/r$r-unsigned b=$work/r$r-before
  for d in "$c" "$k" "$g" "$u" ${before:+"$b"}; do mkdir -p "$d"; cp "$rpms"/*.rpm "$d/"; done
  sync
  if [ $((r % 2)) = 1 ]; then
    t crc-cold createrepo_c -q --no-database "$c"
    t keel-cold "$keel" repo index --repo "$k"
    if [ -n "$before" ]; then t before-cold "$before" repo index --dir "$b"; fi
    t keelgz-cold "$keel" repo index --compression gzip --repo "$g"
  else
    t keelgz-cold "$keel" repo index --compression gzip --repo "$g"
    if [ -n "$before" ]; then t before-cold "$before" repo index --dir "$b"; fi
    t keel-cold "$keel" repo index --repo "$k"
    t crc-cold createrepo_c -q --no-database "$c"
  fi
  t keel-publish-cold "$keel" repo publish --repo "$p" "$rpms"
  "$keel" repo index --unsigned --repo "$u" >/dev/null
  # The four one-package updates run in a shuffled order each round (fixed
  # seed), each right after the package is copied in and synced: no tool
  # always runs after createrepo_c (which leaves caches and TLBs cold) or
  # always after another keel run (which leaves them warm). A fixed
  # alternation made keel's signed update the one that followed
  # createrepo_c in every other round.
  for x in $(printf '%s\n' crc keel unsigned publish ${before:+before} | shuf --random-source=<(yes "$r")); do
    case $x in
      crc) cp "$extra" "$c/"; sync; t crc-update createrepo_c -q --no-database --update "$c" ;;
      keel) cp "$extra" "$k/"; sync; t keel-update "$keel" repo index --repo "$k" ;;
      unsigned) cp "$extra" "$u/"; sync; t keel-update-unsigned "$keel" repo index --unsigned --repo "$u" ;;
      before) cp "$extra" "$b/"; sync; t before-update "$before" repo index --dir "$b" ;;
      publish) sync; t keel-publish-update "$keel" repo publish --repo "$p" "$extra" ;;
    esac
  done
done

n=$(ls "$rpms"/*.rpm | wc -l)
echo "repository benchmark: $n packages, $rounds alternating rounds, medians (wall and CPU), $(nproc) cores"
echo "load average at start: $load0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for x in crc-cold keel-cold ${before:+before-cold} keelgz-cold keel-publish-cold crc-update keel-update ${before:+before-update} keel-update-unsigned keel-publish-update; do
  printf "  %-20s %8.2f ms  %8.2f ms cpu\n" "$x" "$(awk -v s="$(median $x 1)" 'BEGIN {print s * 1000}')" "$(awk -v s="$(median $x 2)" 'BEGIN {print s * 1000}')"
done
awk -v k="$(median keel-cold 1)" -v c="$(median crc-cold 1)" -v kc="$(median keel-cold 2)" -v cc="$(median crc-cold 2)" \
  'BEGIN {printf "cold metadata:   keel/createrepo_c = %.2fx wall, %.2fx cpu (goal <= 1.0x)\n", k/c, kc/cc}'
awk -v k="$(median keel-update 1)" -v c="$(median crc-update 1)" -v kc="$(median keel-update 2)" -v cc="$(median crc-update 2)" \
  'BEGIN {printf "add one package: createrepo_c --update / keel = %.1fx faster wall, %.1fx cpu (goal >= 10x)\n", c/k, cc/(kc>0?kc:0.001)}'
awk -v k="$(median keel-update-unsigned 1)" -v c="$(median crc-update 1)" -v kc="$(median keel-update-unsigned 2)" -v cc="$(median crc-update 2)" \
  'BEGIN {printf "  the same job (unsigned repomd.xml, as createrepo_c writes it): %.1fx faster wall, %.1fx cpu\n", c/k, cc/(kc>0?kc:0.001)}'
awk -v k="$(median keel-publish-update 1)" -v c="$(median crc-update 1)" \
  'BEGIN {printf "add one package with signing (keel repo publish): %.1fx faster than createrepo_c --update\n", c/k}'
if [ -n "$before" ]; then
  awk -v k="$(median before-update 1)" -v c="$(median crc-update 1)" -v kc="$(median before-update 2)" -v cc="$(median crc-update 2)" \
    'BEGIN {printf "add one package, KEEL_BENCH_BEFORE binary: createrepo_c --update / keel = %.1fx faster wall, %.1fx cpu\n", c/k, cc/(kc>0?kc:0.001)}'
  awk -v a="$(median keel-update 1)" -v b="$(median before-update 1)" -v ac="$(median keel-update 2)" -v bc="$(median before-update 2)" \
    'BEGIN {printf "add one package, this tree / KEEL_BENCH_BEFORE: %.2fx wall, %.2fx cpu (above 1: slower)\n", a/b, ac/bc}'
fi
