#!/usr/bin/env bash
# Generate the 1,000 small real RPMs the repository benchmark uses, once,
# into ${KEEL_BENCH_CACHE:-~/.cache/keel/bench}/rpms (never into the repo).
# Four rpmbuild runs of 250 subpackages each; every package has a few files,
# a provide, a versioned require and a changelog.
set -euo pipefail
cache=${KEEL_BENCH_CACHE:-$HOME/.cache/keel/bench}
out=$cache/rpms
n=${N:-1000}
if [ -f "$out/.done-$n" ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
per=250
for b in $(seq 0 $(( (n + per - 1) / per - 1 ))); do
  top=$(mktemp -d)
  spec=$top/bulk$b.spec
  {
    echo "Name: bench$b"; echo "Version: 1.0"; echo "Release: 1.kl1"; echo "Summary: bench batch $b"
    echo "License: MIT"; echo "BuildArch: noarch"; echo "AutoReqProv: no"
    echo "%description"; echo "Benchmark batch $b."
    for i in $(seq 0 $((per - 1))); do
      k=$((b * per + i)); [ $k -lt $n ] || break
      echo "%package p$k"; echo "Summary: benchmark package $k"
      echo "Provides: bench-api-$k = 1.$k"; echo "Requires: bench$b-p$(( b * per )) >= 1.0"
      echo "%description p$k"; echo "Benchmark package $k of $n, with a longer description line to look real."
    done
    echo "%install"
    for i in $(seq 0 $((per - 1))); do
      k=$((b * per + i)); [ $k -lt $n ] || break
      echo "mkdir -p %{buildroot}/usr/share/bench/$k %{buildroot}/usr/bin"
      echo "for f in a b c d e; do echo \$f$k > %{buildroot}/usr/share/bench/$k/\$f.txt; done"
      echo "printf '#!/bin/sh\\necho $k\\n' > %{buildroot}/usr/bin/bench-$k; chmod 755 %{buildroot}/usr/bin/bench-$k"
    done
    echo "%files"
    for i in $(seq 0 $((per - 1))); do
      k=$((b * per + i)); [ $k -lt $n ] || break
      echo "%files p$k"; echo "/usr/share/bench/$k"; echo "/usr/bin/bench-$k"
    done
    echo "%changelog"; echo "* Tue Nov 14 2023 Keel Bench <bench@keel.example> - 1.0-1.kl1"; echo "- Benchmark."
  } > "$spec"
  SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet --nodeps --define "_topdir $top" --define "_dbpath $top/db" \
    --define "_buildhost keel" --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" -bb "$spec" >/dev/null 2>&1
  rm -f "$top"/RPMS/noarch/bench$b-1.0-*.rpm  # the empty main package
  mv "$top"/RPMS/noarch/*.rpm "$out.tmp/"
  rm -rf "$top"
done
# One more package, kept apart: the one the update benchmark adds.
top=$(mktemp -d)
cat > "$top/extra.spec" <<'SPEC'
Name: bench-extra
Version: 1.0
Release: 1.kl1
Summary: the package added by the update benchmark
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
Added to a 1,000-package repository.
%install
mkdir -p %{buildroot}/usr/share/bench-extra
echo extra > %{buildroot}/usr/share/bench-extra/f
%files
/usr/share/bench-extra
SPEC
SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet --nodeps --define "_topdir $top" --define "_dbpath $top/db" \
  --define "_buildhost keel" -bb "$top/extra.spec" >/dev/null 2>&1
rm -rf "$cache/extra"; mkdir -p "$cache/extra"; mv "$top"/RPMS/noarch/*.rpm "$cache/extra/"; rm -rf "$top"
rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done-$n"
echo "$out"
