package boot

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

var tempDirs []string

// tempDir is a directory shared by several tests (images built once), removed
// by TestMain.
func tempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err == nil {
		tempDirs = append(tempDirs, d)
	}
	return d, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// TestBootTimes measures time to the status line, median of 5 per variant and
// path, alternating variants in one run (the machine drifts). It writes a
// Markdown table to $KEEL_BOOT_BENCH (bench/boot.sh sets it).
func TestBootTimes(t *testing.T) {
	out := os.Getenv("KEEL_BOOT_BENCH")
	if out == "" {
		t.Skip("set KEEL_BOOT_BENCH=<file> (bench/boot.sh)")
	}
	requireQEMU(t)
	rounds := 5
	guard := guardImage(t)
	vm := buildImage(t, t.TempDir(), imageOpts{variant: "vm"})
	hwe := buildImage(t, t.TempDir(), imageOpts{variant: "hwe"})
	ks := testKeys(t)
	type setup struct {
		name string
		o    Options
	}
	exG, _ := Expect("guard", guard.Release)
	exV, _ := Expect("vm", vm.Release)
	exH, _ := Expect("hwe", hwe.Release)
	setups := []setup{
		{"guard, direct kernel boot", Options{Disk: guard.Disk, Firmware: Direct, Kernel: guard.Kernel, Initrd: guard.Initrd, Cmdline: guard.Cmdline, Expect: exG}},
		{"guard, direct kernel boot through PVH", Options{Disk: guard.Disk, Firmware: Direct, PVH: true, Kernel: guard.Kernel, Initrd: guard.Initrd, Cmdline: guard.Cmdline, Expect: exG}},
		{"guard, OVMF + Secure Boot (signed UKI)", Options{Disk: guard.Disk, Firmware: OVMFSecureBoot, Vars: ks.vars, Expect: exG}},
		{"vm (6.1), OVMF (UKI)", Options{Disk: vm.Disk, Firmware: OVMF, Expect: exV}},
		{"hwe (6.12), OVMF (UKI)", Options{Disk: hwe.Disk, Firmware: OVMF, Expect: exH}},
	}
	type run struct {
		after   time.Duration
		timings string // keel-init's boot.timings fact
	}
	runs := make([][]run, len(setups))
	for r := 0; r < rounds; r++ {
		for i, s := range setups {
			res := boot(t, s.o)
			if !res.OK {
				t.Fatalf("%s: %s", s.name, res.Reason)
			}
			runs[i] = append(runs[i], run{res.StatusAfter, res.Facts["boot.timings"]})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| variant, path | median | min | max | runs |\n|---|---|---|---|---|\n")
	var medians []string
	for i, s := range setups {
		d := append([]run(nil), runs[i]...)
		sort.Slice(d, func(a, b int) bool { return d[a].after < d[b].after })
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %.2f s | %d |\n", s.name, d[len(d)/2].after.Seconds(), d[0].after.Seconds(), d[len(d)-1].after.Seconds(), len(d))
		medians = append(medians, fmt.Sprintf("- %s: %s", s.name, d[len(d)/2].timings))
	}
	fmt.Fprintf(&b, "\nkeel-init's boot.timings (seconds since boot) in the median run:\n\n%s\n", strings.Join(medians, "\n"))
	t.Log("\n" + b.String())
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
