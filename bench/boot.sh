#!/usr/bin/env bash
# Boot times to keel-init's status line under QEMU TCG (no KVM), median of 5
# per variant and path, variants alternating in one run. Builds the test
# images from the Debian cloud kernels in ../shared (see pkg/boot tests).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp); log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT
start_load=$(cut -d' ' -f1-3 /proc/loadavg)
if ! KEEL_BOOT_BENCH="$out" go test -count=1 -run '^TestBootTimes$' -timeout 30m ./pkg/boot >"$log" 2>&1; then
  tail -40 "$log" >&2
  exit 1
fi
echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), load average at start: $start_load, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$out"
