package boot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/disk"
)

var guardOnce struct {
	sync.Once
	img *image
}

// guardImage is built once per test binary run (building takes seconds,
// tests only read it or copy it).
func guardImage(t *testing.T) *image {
	t.Helper()
	guardOnce.Do(func() {
		dir, err := tempDir("keel-guard-*")
		if err != nil {
			t.Fatal(err)
		}
		guardOnce.img = buildImage(t, dir, imageOpts{variant: "guard"})
	})
	if guardOnce.img == nil {
		t.Fatal("guard image build failed earlier")
	}
	return guardOnce.img
}

func requireQEMU(t *testing.T) {
	t.Helper()
	testenv.Short(t, "boots a VM under TCG")
	testenv.RequireTool(t, "qemu-system-x86_64")
}

func boot(t *testing.T, o Options) *Result {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() || !res.OK {
		t.Logf("boot: ok=%v status=%q after %s reason=%q", res.OK, res.Status, res.StatusAfter.Round(time.Millisecond), res.Reason)
	}
	return res
}

func dumpConsole(t *testing.T, res *Result) {
	t.Helper()
	lines := strings.Split(string(res.Console), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("console tail:\n%s", strings.Join(lines, "\n"))
}

// vmSlots limits concurrent VMs to the machine's two cores.
var vmSlots = make(chan struct{}, 2)

func bootParallel(t *testing.T, o Options) *Result {
	t.Helper()
	vmSlots <- struct{}{}
	defer func() { <-vmSlots }()
	return boot(t, o)
}

// TestMutableVariantsBootUnderOVMF boots vm from its qcow2 and hwe from its
// fixed VHD (the raw disk is what guard boots from), so every shipped format
// is booted once.
func TestMutableVariantsBootUnderOVMF(t *testing.T) {
	requireQEMU(t)
	for _, tc := range []struct {
		variant string
		format  disk.Format
		qemu    string
	}{{"vm", disk.Qcow2, "qcow2"}, {"hwe", disk.VHD, "vpc"}} {
		variant := tc.variant
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			img := buildImage(t, t.TempDir(), imageOpts{variant: variant})
			conv := filepath.Join(img.Dir, "disk."+string(tc.format))
			if err := disk.Convert(context.Background(), img.Disk, conv, tc.format, "keel-test-"+variant, epoch); err != nil {
				t.Fatal(err)
			}
			ex, _ := Expect(variant, img.Release)
			res := bootParallel(t, Options{Disk: conv, DiskFormat: tc.qemu, Firmware: OVMF, Expect: ex})
			if !res.OK {
				dumpConsole(t, res)
				t.Fatalf("%s did not boot under OVMF: %s", variant, res.Reason)
			}
		})
	}
}

// TestSecureBootRefuses: the firmware must refuse an unsigned UKI and a
// signed one modified after signing.
func TestSecureBootRefuses(t *testing.T) {
	requireQEMU(t)
	img := guardImage(t)
	ks := testKeys(t)
	signed, err := os.ReadFile(img.SignedUKI)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(signed, []byte("loglevel=4"))
	if i < 0 {
		t.Fatal("no command line in the signed UKI")
	}
	modified := append([]byte(nil), signed...)
	modified[i+9] = '7' // loglevel=7: a more talkative but unsigned command line
	for _, tc := range []struct {
		name string
		efi  func(dir string) string
	}{
		{"unsigned", func(string) string { return img.UKI }},
		{"modified-after-signing", func(dir string) string {
			p := filepath.Join(dir, "modified.efi")
			os.WriteFile(p, modified, 0o644)
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			diskPath := filepath.Join(dir, "disk.raw")
			makeDisk(t, dir, tc.efi(dir), "keel-test-guard", guardParts(img), diskPath)
			res := bootParallel(t, Options{Disk: diskPath, Firmware: OVMFSecureBoot, Vars: ks.vars, Timeout: 60 * time.Second})
			if res.OK || res.Status != "" {
				t.Fatalf("Secure Boot let a %s UKI run (status %q)", tc.name, res.Status)
			}
			if !strings.Contains(res.Reason, "No bootable option") && !strings.Contains(res.Reason, "Access Denied") && !strings.Contains(res.Reason, "refused") {
				dumpConsole(t, res)
				t.Fatalf("refused, but the harness gives the wrong reason: %s", res.Reason)
			}
		})
	}
}

func guardParts(img *image) []disk.Partition {
	var parts []disk.Partition
	for _, p := range img.Layout.Partitions {
		parts = append(parts, p.Partition)
	}
	return parts
}

// TestGuardCorruption flips one byte at several places of the root and its
// hash tree; no boot may report success, and the harness must say why.
func TestGuardCorruption(t *testing.T) {
	requireQEMU(t)
	img := guardImage(t)
	raw, err := os.ReadFile(img.Disk)
	if err != nil {
		t.Fatal(err)
	}
	rootPart, _ := img.Layout.Find("root")
	hashPart, _ := img.Layout.Find("root-verity")
	fsImg, _ := os.ReadFile(img.RootFS)
	initBin, _ := os.ReadFile(keelInit(t))
	at := func(content []byte, what string) int64 {
		j := bytes.Index(fsImg, content[:4096])
		if j < 0 {
			t.Fatalf("%s not found in the erofs image", what)
		}
		return rootPart.Offset + int64(j)
	}
	cases := []struct {
		name string
		off  int64
	}{
		{"erofs-superblock", rootPart.Offset + 1024 + 16},
		{"init-elf-header", at(initBin, "keel-init") + 24},
		{"hash-tree-top", hashPart.Offset + 4096 + 5},
		{"last-data-block-metadata", rootPart.Offset + int64(len(fsImg)) - 4096 + 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := append([]byte(nil), raw...)
			bad[tc.off] ^= 0x01
			p := filepath.Join(t.TempDir(), "disk.raw")
			if err := os.WriteFile(p, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			res := bootParallel(t, Options{Disk: p, Firmware: Direct, Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: img.Cmdline, Timeout: 60 * time.Second})
			if res.OK || res.Status == "ok" {
				t.Fatalf("a root with a flipped byte at %d reported success", tc.off)
			}
			if !strings.Contains(res.Reason, "dm-verity") && !strings.Contains(res.Reason, "panic") {
				dumpConsole(t, res)
				t.Fatalf("refused, but not by dm-verity: %q", res.Reason)
			}
			t.Logf("refused: %s", res.Reason)
		})
	}
}

// TestGuardForgery: an attacker without the key changes a file, rebuilds the
// erofs and the tree and substitutes the new root hash, reusing the genuine
// signatures. Under Secure Boot the kernel refuses the verity table (its
// root hash signature check); booted without firmware, keel-init's Ed25519
// check does. Nothing is mounted either way.
func TestGuardForgery(t *testing.T) {
	requireQEMU(t)
	genuine := guardImage(t)
	forged := buildImage(t, t.TempDir(), imageOpts{variant: "guard", hostname: "forged", sigFor: genuine.RootHash.String()})
	if forged.RootHash == genuine.RootHash {
		t.Fatal("forgery did not change the root hash")
	}
	ks := testKeys(t)
	for _, tc := range []struct {
		name        string
		o           Options
		reason, log string
	}{
		{"kernel (Secure Boot)", Options{Disk: forged.Disk, Firmware: OVMFSecureBoot, Vars: ks.vars, Timeout: 120 * time.Second},
			"the kernel refused the root hash signature", "verity: Root hash verification failed"},
		{"initramfs (no firmware)", Options{Disk: forged.Disk, Firmware: Direct, Kernel: forged.Kernel, Initrd: forged.Initrd, Cmdline: forged.Cmdline, Timeout: 60 * time.Second},
			"signature does not verify", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := bootParallel(t, tc.o)
			if res.OK || res.Status != "fail" {
				dumpConsole(t, res)
				t.Fatalf("forged root: status %q, reason %q", res.Status, res.Reason)
			}
			if !strings.Contains(res.Reason, tc.reason) {
				dumpConsole(t, res)
				t.Fatalf("refused for the wrong reason: %s", res.Reason)
			}
			if res.Facts["initrd.verity.signature"] != "refused" {
				t.Fatalf("facts: %v", res.Facts)
			}
			for _, l := range strings.Split(string(res.Console), "\n") {
				if tc.log != "" && strings.Contains(l, tc.log) {
					t.Logf("the kernel: %s", strings.TrimSpace(l))
					tc.log = ""
				}
			}
			if tc.log != "" {
				dumpConsole(t, res)
				t.Fatalf("the console has no %q from the kernel", tc.log)
			}
			t.Logf("refused: %s", res.Reason)
		})
	}
}

// TestGuardPVH: the guard boots the same kernel through its PVH entry
// (keel boot --pvh), every guard fact asserted.
func TestGuardPVH(t *testing.T) {
	requireQEMU(t)
	g := guardImage(t)
	ex, err := Expect("guard", g.Release)
	if err != nil {
		t.Fatal(err)
	}
	res := bootParallel(t, Options{Disk: g.Disk, Firmware: Direct, PVH: true, Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: g.Cmdline, Expect: ex, Timeout: 60 * time.Second})
	if !res.OK {
		dumpConsole(t, res)
		t.Fatalf("PVH boot: %s", res.Reason)
	}
	// A kernel without a PVH note (here: not a bzImage at all) is refused
	// before QEMU starts.
	if _, err := Run(context.Background(), Options{Firmware: Direct, PVH: true, Kernel: g.Initrd}); err == nil || !strings.Contains(err.Error(), "--pvh") {
		t.Fatalf("PVH with a non-kernel: %v", err)
	}
}

// TestGuardReproducible: two builds from the same inputs are byte-identical,
// signed UKI and root hash included.
func TestGuardReproducible(t *testing.T) {
	a := guardImage(t)
	b := buildImage(t, t.TempDir(), imageOpts{variant: "guard"})
	if a.RootHash != b.RootHash {
		t.Fatalf("root hash differs: %s vs %s", a.RootHash, b.RootHash)
	}
	for _, f := range []string{"root.img", "root.verity", "initrd.cpio", "initrd.cpio.zst", "keel.efi", "keel.signed.efi", "disk.raw"} {
		x, _ := os.ReadFile(filepath.Join(a.Dir, f))
		y, _ := os.ReadFile(filepath.Join(b.Dir, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds (%d vs %d bytes)", f, len(x), len(y))
		}
	}
}
