#!/usr/bin/env bash
# dm-verity hash tree: Keel (Go, two-stream SHA-NI assembly, all cores) vs `veritysetup format`, on
# 1 GiB of random data in tmpfs, same salt and UUID, alternating runs in one
# script. Prints each time, the medians, the ratio, checks both trees are
# byte-identical, and compares Keel with the ceiling: the same salted
# SHA-256 work on every core with the data in cache (BenchmarkSHA256Limit),
# measured before and after the rounds (the machine is shared); and with
# Keel's two-stream SHA-NI code (pkg/verity/internal/sha256x2), the ceiling
# of what Format itself runs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
size_mib=${SIZE_MIB:-1024}
work=$(mktemp -d /dev/shm/keel-verity-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
keel="$work/keel"
go build -o "$keel" ./cmd/keel
go test -c -o "$work/verity.test" ./pkg/verity
limit() { "$work/verity.test" -test.run '^$' -test.bench "^BenchmarkSHA256${1:-}Limit\$" -test.benchtime 2s | awk '/MB\/s/ {print $(NF-1)}'; }
head -c $((size_mib << 20)) /dev/urandom >"$work/data"
salt=$(printf "a5%.0s" $(seq 32))
uuid=0b7e4d2a-6c1f-4a38-9d5e-2f60a1b3c4d5
now() { date +%s.%N; }
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
l1=$(limit)
echo "SHA-256 ceiling (crypto/sha256, salted 4 KiB blocks, $(nproc) cores, in cache): $l1 MB/s"
x1=$(limit x2)
echo "two-stream SHA-NI ceiling (Keel's sha256x2, same work): $x1 MB/s"
declare -a tk tv
for i in $(seq "$rounds"); do
  t0=$(now); "$keel" verity format --salt "$salt" --uuid "$uuid" "$work/data" "$work/keel.hash" >"$work/keel.root"; t1=$(now)
  veritysetup format --salt "$salt" --uuid "$uuid" "$work/data" "$work/vs.hash" >"$work/vs.out"; t2=$(now)
  tk+=("$(echo "$t1 - $t0" | bc)"); tv+=("$(echo "$t2 - $t1" | bc)")
  echo "round $i: keel ${tk[-1]}s  veritysetup ${tv[-1]}s"
done
l2=$(limit)
echo "SHA-256 ceiling after the rounds: $l2 MB/s"
x2=$(limit x2)
echo "two-stream ceiling after the rounds: $x2 MB/s"
cmp "$work/keel.hash" "$work/vs.hash" && echo "hash devices byte-identical"
grep -q "$(cat "$work/keel.root")" "$work/vs.out" && echo "root hash identical: $(cat "$work/keel.root")"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mk=$(median "${tk[@]}"); mv=$(median "${tv[@]}")
bytes=$((size_mib << 20))
echo "median on ${size_mib} MiB: keel ${mk}s ($(echo "scale=0; $bytes / $mk / 1000000" | bc) MB/s), veritysetup ${mv}s ($(echo "scale=0; $bytes / $mv / 1000000" | bc) MB/s)"
echo "speed-up keel/veritysetup: $(echo "scale=2; $mv / $mk" | bc)x"
lim=$(echo "if ($l1 > $l2) $l1 else $l2" | bc)
echo "keel at $(echo "scale=0; 100 * $bytes / $mk / 1000000 / $lim" | bc)% of the crypto/sha256 ceiling ($lim MB/s, the higher of the two)"
xl=$(echo "if ($x1 > $x2) $x1 else $x2" | bc)
echo "keel at $(echo "scale=0; 100 * $bytes / $mk / 1000000 / $xl" | bc)% of its own two-stream ceiling ($xl MB/s)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
