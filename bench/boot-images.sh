#!/usr/bin/env bash
# Boot times of the bootable images built from Keel Linux's own RPMs
# (keel image build vm|hwe|guard), QEMU TCG, 1 vCPU, through OVMF (guard with
# Secure Boot enforced, keys enrolled). Prints the median of N boots each,
# variants alternating. Usage: bench/boot-images.sh RPM... (default: the newest
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
rel() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['boot']['kernel_release'])" "$1"; }
declare -A times
for i in $(seq "$N"); do
  for v in vm hwe guard; do
    dir=$work/out/images/$v
    args=(--variant "$v" --kernel-release "$(rel "$dir/manifest.json")")
    [ "$v" = guard ] && args+=(--secure-boot --enroll-cert "$work/db.crt")
    t=$("$keel" --json boot "$dir/$v.raw" "${args[@]}" | python3 -c "import json,sys;d=json.load(sys.stdin);print(d['status_after_s'] if d.get('ok') else 'FAIL')") || t=FAIL
    times[$v]="${times[$v]:-} $t"
  done
done
for v in vm hwe guard; do
  echo "$v: ${times[$v]} -> median $(echo ${times[$v]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}') s"
done
