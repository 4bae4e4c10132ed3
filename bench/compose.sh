#!/usr/bin/env bash
# Compose a generated ~300-package closure (bench-all requires every pNNN;
# plain, versioned, virtual, file and "or" dependencies; 3 files each) from
# a local repository into a fresh root: `keel image build --rootfs`
# (resolve, verify, extract, rpmdb, manifest) alternating with the anchor,
# `dnf --installroot ... install bench-all` on the same repository and
# request. Both write into tmpfs (FIELD-NOTES: ext4 after mass deletes is
# slow). Prints both times and the ratio; goal: keel ≥ 5× faster, < 1 s.
set -euo pipefail
KEEL=${KEEL:-bin/keel}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /dev/shm/keel-bench-compose.XXXXXX 2>/dev/null || mktemp -d /tmp/keel-bench-compose.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

KEEL_BENCH_DIR="$work" go test ./pkg/image -run '^TestWriteBenchRepo$' -count=1 >/dev/null
mkdir -p "$work/empty" "$work/home"
# Debian's rpm keeps %_dbpath in ~/.rpmdb; point dnf's rpm at the standard place.
echo '%_dbpath /usr/lib/sysimage/rpm' > "$work/home/.rpmmacros"
now() { date +%s.%N; }
kt=0; dt=0; n=0; dn=0; ks=(); ds=()
for i in $(seq "$ROUNDS"); do
  t0=$(now)
  SOURCE_DATE_EPOCH=1700000000 "$KEEL" image build "$work/bench.yaml" --repo "$work/repo" --allow-unsigned --out "$work/keel$i" --rootfs --json > "$work/keel.json"
  t1=$(now)
  HOME="$work/home" dnf -q -y --installroot="$work/dnf$i" --setopt=reposdir="$work/empty" --repofrompath=bench,"file://$work/repo" \
    --releasever=1 --nogpgcheck --setopt=install_weak_deps=False --setopt=cachedir="$work/dnfcache$i" \
    install bench-all > "$work/dnf.txt" 2>&1
  t2=$(now)
  kt=$(echo "$kt + $t1 - $t0" | bc -l); dt=$(echo "$dt + $t2 - $t1" | bc -l)
  ks+=("$(echo "$t1 - $t0" | bc -l)"); ds+=("$(echo "$t2 - $t1" | bc -l)")
  n=$(grep -o '"name":' "$work/keel.json" | wc -l)
  dn=$(rpm --root "$work/dnf$i" --dbpath /usr/lib/sysimage/rpm -qa | wc -l)
  [ -n "${KEEP:-}" ] || rm -rf "$work/keel$i" "$work/dnf$i" "$work/dnfcache$i"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
km=$(median "${ks[@]}"); dm=$(median "${ds[@]}")
printf 'compose: keel image build --rootfs (%s packages): %.3f s; dnf --installroot install (%s packages): %.3f s; dnf/keel %.1fx (medians %.3f s / %.3f s: %.1fx; load %s)\n' \
  "$n" "$(echo "$kt / $ROUNDS" | bc -l)" "$dn" "$(echo "$dt / $ROUNDS" | bc -l)" "$(echo "$dt / $kt" | bc -l)" \
  "$km" "$dm" "$(echo "$dm / $km" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
