#!/usr/bin/env bash
# Boot times of the bootable images built from Keel Linux's own RPMs
# (keel image build vm|hwe|guard), QEMU TCG, 1 vCPU, through OVMF (guard with
# Secure Boot enforced, keys enrolled), and guard once more by direct kernel
# boot of the kernel, initramfs and command line taken out of its UKI. Prints
# the median of N boots each, variants alternating, and the load average. Usage: bench/boot-images.sh RPM... (default: the newest
# of each package in the shared test cache).
set -euo pipefail
N=${N:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export KEEL_KEYS=$work/keys SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1763856000}
go build -o "$work/keel" "$here/cmd/keel"
keel=$work/keel
if [ $# -eq 0 ]; then
  declare -A seen; set --
  for f in $(ls -t "${KEEL_TEST_CACHE:-/tmp/keel-test-cache}"/builds/*/rpms/*.rpm); do
    n=$(rpm -qp --qf '%{NAME}' "$f" 2>/dev/null); [ -n "${seen[$n]:-}" ] && continue; seen[$n]=1; set -- "$@" "$f"
  done
fi
"$keel" keys init >/dev/null
"$keel" repo publish --out "$work/out" "$@" >/dev/null
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$work/db.key" -out "$work/db.crt" -subj /CN=keel-bench-db -days 3650 2>/dev/null
for v in vm hwe guard; do
  "$keel" -C "$here/distro" --out "$work/out" image build "$v" --secureboot-key "$work/db.key" --secureboot-cert "$work/db.crt" >/dev/null 2>&1
done
# guard-direct: the UKI's own sections, booted with -kernel/-initrd/-append;
# guard-pvh: the same, the kernel entered through PVH (keel boot --pvh).
g=$work/out/images/guard
for s in linux initrd cmdline; do objcopy -O binary --only-section=.$s "$g/guard.efi" "$work/guard.$s"; done
# A VM keeps its NVRAM: the first boot after enrolling keys rewrites OVMF's
# boot variables (~1.4 s). One untimed guard boot primes it (--save-vars);
# the timed Secure Boot runs start from that NVRAM, as a VM's later boots do.
"$keel" boot "$g/guard.raw" --secure-boot --enroll-cert "$work/db.crt" --no-manifest --save-vars "$work/primed.fd" >/dev/null
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
rel() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['boot']['kernel_release'])" "$1"; }
declare -A times
for i in $(seq "$N"); do
  for v in vm hwe guard guard-direct guard-pvh; do
    b=${v%-direct}; b=${b%-pvh}
    dir=$work/out/images/$b
    args=(--variant "$b" --kernel-release "$(rel "$dir/manifest.json")")
    [ "$v" = guard ] && args+=(--secure-boot --vars "$work/primed.fd")
    case $v in guard-direct | guard-pvh) args+=(--kernel "$work/guard.linux" --initrd "$work/guard.initrd" --append "$(tr -d '\0' <"$work/guard.cmdline")") ;; esac
    [ "$v" = guard-pvh ] && args+=(--pvh)
    t=$("$keel" --json boot "$dir/$b.raw" "${args[@]}" | python3 -c "import json,sys;d=json.load(sys.stdin);print(d['status_after_s'] if d.get('ok') else 'FAIL')") || t=FAIL
    times[$v]="${times[$v]:-} $t"
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for v in vm hwe guard guard-direct guard-pvh; do
  echo "$v: ${times[$v]} -> median $(echo ${times[$v]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}') s"
done
