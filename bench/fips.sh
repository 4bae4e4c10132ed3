#!/usr/bin/env bash
# FIPS provider vs default provider: the same Keel Linux openssl binary and
# libcrypto, on this machine, alternating rounds of `openssl speed` for
# SHA-256 and AES-256-GCM (16 KiB blocks). Only the configuration differs:
# Keel's openssl-fips.cnf (FIPS provider as the default, via a fipsinstall
# for the unpacked location) or the stock openssl.cnf. Prints each round,
# the medians and the FIPS cost in percent.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keel=${KEEL:-$work/keel}
[ -x "$keel" ] || go build -o "$keel" ./cmd/keel
# The openssl packages come from keel build (a cache hit after the first run).
"$keel" build openssl --out "$work/out" >/dev/null
root=$work/root
mkdir -p "$root"
for p in "$work"/out/rpms/x86_64/{openssl,libcrypto3,libssl3,openssl-fips-provider}-3*.rpm; do
  (cd "$root" && rpm2cpio "$p" | cpio -idm --quiet)
done
lib=$root/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib OPENSSL_MODULES=$lib/ossl-modules
ossl=$root/usr/bin/openssl
OPENSSL_CONF=$root/etc/ssl/openssl.cnf "$ossl" fipsinstall -self_test_onload -module "$OPENSSL_MODULES/fips.so" -out "$work/fipsmodule.cnf" 2>/dev/null
sed "s|^\.include .*|.include $work/fipsmodule.cnf|" "$root/etc/ssl/openssl-fips.cnf" >"$work/fips.cnf"
echo "$("$ossl" version) from $(basename "$(ls "$work"/out/rpms/x86_64/openssl-3*.rpm)")"
# speed ALG CONF -> bytes per second for 16 KiB blocks (machine-readable output).
speed() {
  OPENSSL_CONF=$2 "$ossl" speed -mr -seconds "$secs" -bytes 16384 -evp "$1" 2>/dev/null |
    awk -F: '/^\+F:/ {print $4; exit}'
}
provider() { OPENSSL_CONF=$1 "$ossl" list -providers | awk '/^  [a-z]/ {printf "%s ", $1}'; }
echo "providers: default config: $(provider "$root/etc/ssl/openssl.cnf")| fips config: $(provider "$work/fips.cnf")"
OPENSSL_CONF=$work/fips.cnf "$ossl" dgst -md5 </dev/null >/dev/null 2>&1 && { echo "MD5 worked under the FIPS config"; exit 1; }
echo "MD5 refused under the FIPS config"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for alg in sha256 aes-256-gcm; do
  declare -a d=() f=()
  for i in $(seq "$rounds"); do
    d+=("$(speed "$alg" "$root/etc/ssl/openssl.cnf")")
    f+=("$(speed "$alg" "$work/fips.cnf")")
    printf '%s round %d: default %.0f MB/s  fips %.0f MB/s\n' "$alg" "$i" "$(echo "${d[-1]} / 1000000" | bc -l)" "$(echo "${f[-1]} / 1000000" | bc -l)"
  done
  md=$(median "${d[@]}"); mf=$(median "${f[@]}")
  printf '%s median: default %.0f MB/s, fips %.0f MB/s, fips/default %.3f (cost %.1f%%)\n' "$alg" \
    "$(echo "$md / 1000000" | bc -l)" "$(echo "$mf / 1000000" | bc -l)" "$(echo "$mf / $md" | bc -l)" "$(echo "(1 - $mf / $md) * 100" | bc -l)"
done
