#!/usr/bin/env bash
# Import the Azure Linux OVAL feed and evaluate it against a generated
# 1,500-package image manifest with keel (goal < 1 s), alternating with the
# anchor, OpenSCAP (`oscap oval eval`) on the same feed over a small real
# image root (8 packages in an rpmdb: oscap only sees what is installed, so
# it does less work than keel here). Prints both times and the ratio.
set -euo pipefail
KEEL=${KEEL:-bin/keel}
ROUNDS=${ROUNDS:-5}
FEED=${FEED:-../shared/data/azurelinux-oval/azurelinux-3.0-oval-2024-09-09.xml}
work=$(mktemp -d /tmp/keel-bench-adv.XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1,500 packages: every package the feed names (versions below and above its
# fixes), then synthetic ones.
grep -o '<linux-def:name>[^<]*' "$FEED" | sed 's/.*>//' | sort -u > "$work/names"
awk -v n=1500 'BEGIN { printf "{\"packages\":[" }
  { names[NR] = $0 }
  END {
    for (i = 1; i <= n; i++) {
      name = (i <= NR) ? names[i] : sprintf("synthetic-%04d", i)
      printf "%s{\"name\":\"%s\",\"version\":\"%d.%d\",\"release\":\"%d.azl3\",\"arch\":\"x86_64\"}", (i > 1 ? "," : ""), name, i % 7, i % 13, i % 5
    }
    print "]}"
  }' "$work/names" > "$work/manifest.json"

# A real image root with an rpmdb for oscap (FIELD-NOTES: rpm's %_dbpath via HOME).
mkdir -p "$work/home" "$work/root" "$work/top"
echo '%_dbpath /usr/lib/sysimage/rpm' > "$work/home/.rpmmacros"
for p in zlib:1.2.13:1.azl3 busybox:1.36.1:5.azl3 curl:8.8.0:1.azl3 expat:2.6.2:1.azl3 vim:9.0.2190:1.azl3 mariadb:10.6.9:5.azl3 kernel:6.6.29.1:3.azl3 python3:3.12.3:1.azl3; do
  IFS=: read -r n v r <<< "$p"
  printf 'Name: %s\nVersion: %s\nRelease: %s\nSummary: b\nLicense: MIT\nBuildArch: noarch\n%%description\nb\n%%files\n' "$n" "$v" "$r" > "$work/$n.spec"
  HOME="$work/home" rpmbuild -bb --quiet --define "_topdir $work/top" "$work/$n.spec" >/dev/null 2>&1
done
HOME="$work/home" rpm --root "$work/root" --dbpath /usr/lib/sysimage/rpm -i --nodeps --justdb "$work"/top/RPMS/noarch/*.rpm 2>/dev/null

now() { date +%s.%N; }
kt=0; ot=0
for i in $(seq "$ROUNDS"); do
  t0=$(now)
  "$KEEL" scan image "$work/manifest.json" --oval "$FEED" --store "$work/empty" --fail-on none --format json > "$work/keel.json"
  t1=$(now)
  HOME="$work/home" OSCAP_PROBE_ROOT="$work/root" oscap oval eval "$FEED" > "$work/oscap.txt" 2>&1 || true
  t2=$(now)
  kt=$(echo "$kt + $t1 - $t0" | bc -l); ot=$(echo "$ot + $t2 - $t1" | bc -l)
done
findings=$(grep -c '"cve"' "$work/keel.json" || true)
printf 'advisories: keel import+scan of %s (1,500 packages, %s findings): %.3f s; oscap oval eval (8 packages): %.3f s; oscap/keel %.1fx\n' \
  "$(basename "$FEED")" "$findings" "$(echo "$kt / $ROUNDS" | bc -l)" "$(echo "$ot / $ROUNDS" | bc -l)" "$(echo "$ot / $kt" | bc -l)"
