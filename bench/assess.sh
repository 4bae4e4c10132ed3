#!/usr/bin/env bash
# keel assess workload vs the loader itself: a ~200 MB workload of this
# host's ELF files (Debian's /usr/bin, /usr/sbin, /usr/lib/x86_64-linux-gnu,
# files under 4 MiB, until SIZE_MIB) assessed against a release's
# container-core, alternating rounds in one run. Keel reads the release
# (the base's OCI layout, its repository) and the workload, as a directory
# and as a docker-archive (one uncompressed layer); the anchor is what ldd
# runs — the base's ld.so in trace mode (LD_TRACE_LOADED_OBJECTS=1), once
# per file — in a chroot of the base with the workload copied in, which it
# gets for free. Prints files/s, CPU per 1,000 ELF files and the ratio.
# BASE=releases/1.0.YYYYMMDD (default: the newest under releases/).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
size_mib=${SIZE_MIB:-200}
base=${BASE:-$(ls -d releases/*/ 2>/dev/null | sort | tail -1)}
if [ -z "$base" ] || [ ! -f "$base/manifest.json" ]; then
  echo "assess bench: no release (set BASE=releases/1.0.YYYYMMDD, or run make demo first)" >&2
  exit 1
fi
work=$(mktemp -d /dev/shm/keel-assess-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
keel="$work/keel"
go build -o "$keel" ./cmd/keel

# The workload: ELF files only, in their host paths under /debian.
wl="$work/wl"
mkdir -p "$wl"
budget=$((size_mib << 20)) total=0 n=0
while IFS= read -r f; do
  [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  s=$(stat -c %s "$f")
  [ $((total + s)) -gt "$budget" ] && break
  mkdir -p "$wl/debian$(dirname "$f")"
  cp "$f" "$wl/debian$f"
  total=$((total + s)) n=$((n + 1))
done < <(find /usr/bin /usr/sbin /usr/lib/x86_64-linux-gnu -type f -size -4M | sort)
echo "workload: $n ELF files, $((total >> 20)) MiB; base: $base (container-core)"

# The same as a docker-archive with one uncompressed layer.
tar -C "$wl" -cf "$work/layer.tar" .
diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' "$diff" >"$work/config.json"
printf '[{"Config":"config.json","RepoTags":["bench/wl:latest"],"Layers":["layer.tar"]}]' >"$work/manifest.json"
tar -C "$work" -cf "$work/wl.tar" manifest.json config.json layer.tar
rm "$work/layer.tar"

# The anchor's chroot: the base image's root (its layers) plus the workload.
root="$work/root"
mkdir -p "$root"
oci="$base/images/container-core/oci"
for l in $(jq -r '.layers[].digest' "$oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$oci/index.json" | cut -d: -f2)" | cut -d: -f2); do
  tar -xzf "$oci/blobs/sha256/$l" -C "$root"
done
cp -a "$wl/." "$root/"
(cd "$wl" && find . -type f | sed 's/^\.//' | sort) >"$root/files.txt"

measure() { # prints "wall user+sys" of a command
  /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null 2>&1 || true # exit 3: breaks found
  awk 'END {printf "%s %.2f\n", $1, $2 + $3}' "$work/t" # after time's "exited with non-zero status" line
}
keel_dir=("$keel" -q --json assess workload --base "$base" --image "$wl")
keel_tar=("$keel" -q --json assess workload --base "$base" --image "$work/wl.tar")
anchor=(chroot "$root" /bin/sh -c 'while read -r f; do LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 "$f"; done </files.txt 2>&1')

"$keel" -q --json assess workload --base "$base" --image "$wl" >"$work/report.json" || [ $? -eq 3 ]
echo "keel: $(jq -r '"\(.elf) ELF assessed, \(.breaks | length) breaks, \(.warnings // [] | length) warnings"' "$work/report.json")"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a wd cd wt ct wa ca
for i in $(seq "$rounds"); do
  read -r w c < <(measure "${keel_dir[@]}"); wd+=("$w"); cd+=("$c")
  read -r w c < <(measure "${anchor[@]}"); wa+=("$w"); ca+=("$c")
  read -r w c < <(measure "${keel_tar[@]}"); wt+=("$w"); ct+=("$c")
  echo "round $i: keel dir ${wd[-1]}s (cpu ${cd[-1]}s)  keel docker-archive ${wt[-1]}s (cpu ${ct[-1]}s)  ld.so trace in chroot ${wa[-1]}s (cpu ${ca[-1]}s)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mwd=$(median "${wd[@]}") mcd=$(median "${cd[@]}") mwt=$(median "${wt[@]}") mct=$(median "${ct[@]}") mwa=$(median "${wa[@]}") mca=$(median "${ca[@]}")
rate() { echo "scale=0; $n / $1" | bc; }
per1k() { echo "scale=3; $1 * 1000 / $n" | bc; }
echo "median, $n ELF files: keel dir ${mwd}s ($(rate "$mwd") files/s, $(per1k "$mcd")s CPU per 1,000); keel docker-archive ${mwt}s ($(rate "$mwt") files/s, $(per1k "$mct")s CPU per 1,000); ld.so in chroot ${mwa}s ($(rate "$mwa") files/s, $(per1k "$mca")s CPU per 1,000)"
echo "speed-up keel/ld.so: dir $(echo "scale=1; $mwa / $mwd" | bc)x wall, $(echo "scale=1; $mca / $mcd" | bc)x CPU; docker-archive $(echo "scale=1; $mwa / $mwt" | bc)x wall, $(echo "scale=1; $mca / $mct" | bc)x CPU"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
