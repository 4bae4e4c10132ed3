#!/usr/bin/env bash
# bench/specs.sh — keel's native spec reader vs one `rpmspec -q` per spec,
# over the same tree, alternating in one run, printing the ratio.
#
#   bench/specs.sh                    # distro/SPECS/*/*.spec with the distro's macros
#   bench/specs.sh DIR                # DIR/*/*.spec (e.g. a checkout's SPECS/)
#
# Environment:
#   ROUNDS=3                 rounds (each runs both tools once)
#   KEEL_BENCH_LOAD=a:b      macro files given to both (--load)
#   KEEL_BENCH_DEFINES='dist .x;foo 1'   --define list given to both (';'-separated)
#   KEEL_BENCH_LUAPATH=dir   Lua require() path for keel (rpmspec: RPM_CONFIGDIR)
#   CACHE=both               warm, cold (page cache dropped before each pass; root) or both
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
dir=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/keel" ./cmd/keel

args=()
keelargs=()
if [[ -z "$dir" ]]; then
  specs=(distro/SPECS/*/*.spec)
  # The same macros keel specs applies by itself for the distro tree.
  [[ -f distro/SPECS/keel-rpm-macros/macros.keel ]] && args+=(--load distro/SPECS/keel-rpm-macros/macros.keel)
  while IFS= read -r line; do
    [[ -n "$line" ]] && args+=(--define "$line")
  done < <(awk '/^dist_tag:/{print "dist " $2} /^version:/{gsub(/"/,"",$2); print "keel_version " $2}' distro/keel.yaml 2>/dev/null)
else
  specs=("$dir"/*/*.spec)
  keelargs+=("${specs[@]}")
fi
IFS=':' read -r -a loads <<< "${KEEL_BENCH_LOAD:-}"
for l in "${loads[@]}"; do [[ -n "$l" ]] && args+=(--load "$l"); done
IFS=';' read -r -a defs <<< "${KEEL_BENCH_DEFINES:-}"
for d in "${defs[@]}"; do [[ -n "$d" ]] && args+=(--define "$d"); done
[[ -n "${KEEL_BENCH_LUAPATH:-}" ]] && keelargs+=(--lua-path "$KEEL_BENCH_LUAPATH")

n=${#specs[@]}
echo "specs: $n (${dir:-distro/SPECS}); machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"); rpm $(rpm --version | awk '{print $3}')"

TIMEFORMAT='%R %U %S'
run_keel() { "$tmp/keel" specs --json "${args[@]}" "${keelargs[@]}" > "$tmp/keel.out" 2> "$tmp/keel.err" || true; }
run_rpmspec() {
  local f
  for f in "${specs[@]}"; do rpmspec -q "${args[@]}" "$f" > /dev/null 2>&1 || true; done
}

# Wall time and CPU time (user+sys, children included): the CPU ratio does
# not move when other jobs share the machine, the wall ratio does.
# CACHE=warm|cold|both (default both): cold drops the page cache (root only)
# before each tool's pass, so the specs, macro files and both programs with
# their libraries (and python, perl ... for %(...)) are read from disk.
CACHE=${CACHE:-both}
case $CACHE in warm) modes=(warm) ;; cold) modes=(cold) ;; *) modes=(warm cold) ;; esac
if [[ " ${modes[*]} " == *" cold "* ]] && ! [[ -w /proc/sys/vm/drop_caches ]]; then
  echo "cannot drop the page cache (not root): warm only"
  modes=(warm)
fi
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in "${modes[@]}"; do
  kt=(); rt=(); kc=(); rc=()
  for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order="keel rpmspec"; else order="rpmspec keel"; fi
    for tool in $order; do
      [[ $mode == cold ]] && drop
      t=$( { time "run_$tool" ; } 2>&1 )
      read -r wall usr sys <<< "$t"
      cpu=$(echo "$usr + $sys" | bc -l)
      if [[ $tool == keel ]]; then kt+=("$wall"); kc+=("$cpu"); else rt+=("$wall"); rc+=("$cpu"); fi
      printf '%s round %d %-8s wall %8.3f s  cpu %8.3f s  (load %s)\n' "$mode" "$r" "$tool" "$wall" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
  km=$(median "${kt[@]}"); rm=$(median "${rt[@]}"); kcm=$(median "${kc[@]}"); rcm=$(median "${rc[@]}")
  parsed=$(wc -l < "$tmp/keel.out")
  printf '[%s] keel specs (one process, %d parsed): wall %.3f s (%.2f ms/spec), cpu %.3f s (%.2f cores busy)\n' "$mode" "$parsed" "$km" "$(echo "$km * 1000 / $n" | bc -l)" "$kcm" "$(echo "$kcm / $km" | bc -l)"
  printf '[%s] rpmspec -q, one process per spec:    wall %.3f s (%.2f ms/spec), cpu %.3f s\n' "$mode" "$rm" "$(echo "$rm * 1000 / $n" | bc -l)" "$rcm"
  printf '[%s] speedup: wall %.1fx, cpu %.1fx (median of %d rounds; load average now: %s)\n' "$mode" "$(echo "$rm / $km" | bc -l)" "$(echo "$rcm / $kcm" | bc -l)" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
