#!/usr/bin/env bash
# dm-verity hash tree: Keel (pure Go, all cores) vs `veritysetup format`, on
# 1 GiB of random data in tmpfs, same salt and UUID, alternating runs in one
# script. Prints each time, the medians, the ratio, and checks both trees are
# byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
size_mib=${SIZE_MIB:-1024}
work=$(mktemp -d /dev/shm/keel-verity-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
keel="$work/keel"
go build -o "$keel" ./cmd/keel
head -c $((size_mib << 20)) /dev/urandom >"$work/data"
salt=$(printf "a5%.0s" $(seq 32))
uuid=0b7e4d2a-6c1f-4a38-9d5e-2f60a1b3c4d5
now() { date +%s.%N; }
declare -a tk tv
for i in $(seq "$rounds"); do
  t0=$(now); "$keel" verity format --salt "$salt" --uuid "$uuid" "$work/data" "$work/keel.hash" >"$work/keel.root"; t1=$(now)
  veritysetup format --salt "$salt" --uuid "$uuid" "$work/data" "$work/vs.hash" >"$work/vs.out"; t2=$(now)
  tk+=("$(echo "$t1 - $t0" | bc)"); tv+=("$(echo "$t2 - $t1" | bc)")
  echo "round $i: keel ${tk[-1]}s  veritysetup ${tv[-1]}s"
done
cmp "$work/keel.hash" "$work/vs.hash" && echo "hash devices byte-identical"
grep -q "$(cat "$work/keel.root")" "$work/vs.out" && echo "root hash identical: $(cat "$work/keel.root")"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mk=$(median "${tk[@]}"); mv=$(median "${tv[@]}")
echo "median on ${size_mib} MiB: keel ${mk}s ($(echo "scale=0; $size_mib / $mk" | bc) MiB/s), veritysetup ${mv}s ($(echo "scale=0; $size_mib / $mv" | bc) MiB/s)"
echo "speed-up keel/veritysetup: $(echo "scale=2; $mv / $mk" | bc)x"
