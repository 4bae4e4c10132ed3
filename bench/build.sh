#!/usr/bin/env bash
# keel build of distro/: cold (empty cache) vs warm (no-op), one run.
set -euo pipefail
KEEL=${KEEL:-bin/keel}
work=$(mktemp -d /tmp/keel-bench-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s.%N)
"$KEEL" build --cache "$work/cache" --out "$work/out" --offline > "$work/cold.log"
t1=$(date +%s.%N)
"$KEEL" build --cache "$work/cache" --out "$work/out" --offline > "$work/warm.log"
t2=$(date +%s.%N)
cold=$(echo "$t1 - $t0" | bc -l); warm=$(echo "$t2 - $t1" | bc -l)
grep -E 'built in' "$work/cold.log" | awk '{printf "  %-16s %s\n", $2, $NF}'
printf 'keel build distro/: cold %.1f s, warm (no-op) %.2f s, ratio %.0fx\n' "$cold" "$warm" "$(echo "$cold / $warm" | bc -l)"
