#!/usr/bin/env bash
# Compose container-core (Keel Linux's RPMs, signed) three ways, alternating
# in each round (this machine drifts between rounds):
#   local:  keel image build --repo DIR                  (the repository's directory)
#   http:   keel image build --repo http://127.0.0.1:P   (keel repo serve; a cold cache every round)
#   dnf:    dnf --installroot from the same URL          (gpgcheck and repo_gpgcheck on; a cold cache)
# Prints the medians and the ratios http/local (goal ≤ 1.5×) and dnf/http.
# Usage: bench/remote.sh [RPM...] (default: the newest of each package in the
# shared test cache, as bench/boot-images.sh).
set -euo pipefail
ROUNDS=${ROUNDS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /dev/shm/keel-bench-remote.XXXXXX 2>/dev/null || mktemp -d /tmp/keel-bench-remote.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export KEEL_KEYS=$work/keys SOURCE_DATE_EPOCH=1700000000
(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$work/keel" ./cmd/keel)
keel=$work/keel
if [ $# -eq 0 ]; then
  declare -A seen; set --
  for f in $(ls -t "${KEEL_TEST_CACHE:-/tmp/keel-test-cache}"/builds/*/rpms/*.rpm); do
    n=$(rpm -qp --qf '%{NAME}' "$f" 2>/dev/null); [ -n "${seen[$n]:-}" ] && continue; seen[$n]=1; set -- "$@" "$f"
  done
fi
"$keel" keys init >/dev/null
"$keel" repo publish --out "$work/out" "$@" >/dev/null
repo=$work/out/repo
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$keel" repo serve --repo "$repo" --addr "127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for i in $(seq 100); do curl -fs "$url/repodata/repomd.xml" >/dev/null && break; sleep 0.05; done
pkgs=$(python3 -c 'import yaml,sys; print(" ".join(yaml.safe_load(open(sys.argv[1]))["packages"]))' "$here/distro/images/container-core.yaml" 2>/dev/null || echo filesystem keel-release glibc libgcc busybox)
mkdir -p "$work/empty" "$work/home"
echo '%_dbpath /usr/lib/sysimage/rpm' > "$work/home/.rpmmacros"
now() { date +%s.%N; }
ls_=(); hs=(); ds=()
for i in $(seq "$ROUNDS"); do
  t0=$(now)
  "$keel" -C "$here/distro" --cache "$work/cl$i" --out "$work/l$i" image build container-core --repo "$repo" >/dev/null
  t1=$(now)
  "$keel" -C "$here/distro" --cache "$work/ch$i" --out "$work/h$i" image build container-core --repo "$url" >/dev/null
  t2=$(now)
  HOME="$work/home" dnf -q -y --installroot="$work/d$i" --setopt=reposdir="$work/empty" --repofrompath=keel,"$url" \
    --setopt=keel.gpgcheck=1 --setopt=keel.repo_gpgcheck=1 --setopt=keel.gpgkey="file://$repo/RPM-GPG-KEY-keel" \
    --releasever=1 --setopt=install_weak_deps=False --setopt=cachedir="$work/dc$i" install $pkgs > "$work/dnf.txt" 2>&1 \
    || { cat "$work/dnf.txt"; exit 1; }
  t3=$(now)
  ls_+=("$(echo "$t1 - $t0" | bc -l)"); hs+=("$(echo "$t2 - $t1" | bc -l)"); ds+=("$(echo "$t3 - $t2" | bc -l)")
  cmp -s "$work/l$i/images/container-core/container-core.docker.tar" "$work/h$i/images/container-core/container-core.docker.tar" \
    || { echo "round $i: the image composed over HTTP differs from the local one" >&2; exit 1; }
  n=$(grep -c '"name"' "$work/l$i/images/container-core.lock" || true)
  dn=$(rpm --root "$work/d$i" --dbpath /usr/lib/sysimage/rpm -qa | grep -vc '^gpg-pubkey' || true)
  rm -rf "$work/l$i" "$work/h$i" "$work/d$i" "$work/cl$i" "$work/ch$i" "$work/dc$i"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
lm=$(median "${ls_[@]}"); hm=$(median "${hs[@]}"); dm=$(median "${ds[@]}")
printf 'remote: container-core (%s packages; dnf %s), medians of %s rounds: keel --repo DIR %.3f s; keel --repo http (cold cache) %.3f s; dnf --installroot (same URL) %.3f s; http/local %.2fx (goal <= 1.5x); dnf/keel-http %.1fx (load %s)\n' \
  "$n" "$dn" "$ROUNDS" "$lm" "$hm" "$dm" "$(echo "$hm / $lm" | bc -l)" "$(echo "$dm / $hm" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
