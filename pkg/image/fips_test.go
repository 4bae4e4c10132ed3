package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/boot"
)

// TestDistroFIPS builds Keel Linux's fips image from the distro's own RPMs
// and boots it: the kernel runs in FIPS mode and OpenSSL, started with an
// empty environment, runs on the FIPS provider (SHA-256 and AES-256-GCM give
// the known answers, MD5 is refused). Then the same image with one byte of
// fips.so changed after fipsinstall: the module fails its integrity check,
// the health check fails loudly and no algorithm falls back to the default
// provider. (The vm image's default-provider checks run in TestDistroBootable.)
func TestDistroFIPS(t *testing.T) {
	testenv.Short(t, "builds and boots disk images under TCG")
	testenv.RequireTool(t, "qemu-system-x86_64", "mkfs.ext4", "mkfs.vfat", "mcopy", "objcopy", "qemu-img", "bwrap")
	repo := distroRepo(t)
	keys := testBootKeys(t)
	d, err := Load(filepath.Join(testenv.RepoRoot(), "distro", "images"), "fips")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper bool
	}{{"fips", false}, {"fips-tampered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Definition: d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde, Key: keys.key, Trusted: testKeyring()}
			var cnf []byte
			opt.InspectRoot = func(root, _ string, _ *Manifest) error {
				var err error
				// Written by openssl-fips-provider's %post (fipsinstall).
				if cnf, err = os.ReadFile(filepath.Join(root, "etc/ssl/fipsmodule.cnf")); err != nil {
					return err
				}
				if tc.tamper {
					return flipByte(filepath.Join(root, "usr/lib/x86_64-linux-gnu/ossl-modules/fips.so"), 4096)
				}
				return nil
			}
			res, err := Build(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			man := res.Manifest
			if !tc.tamper {
				// Reproducible, fipsinstall's output included: a second
				// build gives the same outputs (their sha256 are in the
				// manifest).
				opt.Out = t.TempDir()
				res2, err := Build(context.Background(), opt)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
				b, _ := os.ReadFile(filepath.Join(res2.Dir, "manifest.json"))
				if !bytes.Equal(a, b) {
					al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
					for i := 0; i < len(al) && i < len(bl); i++ {
						if al[i] != bl[i] {
							t.Errorf("two fips builds differ: manifest line %d: %s vs %s", i+1, al[i], bl[i])
						}
					}
				}
			}
			if !strings.Contains(string(cnf), "module-mac") || !strings.Contains(string(cnf), "[fips_sect]") {
				t.Errorf("fipsmodule.cnf has no [fips_sect] module-mac:\n%s", cnf)
			}
			if !boot.FIPSMode(man.Boot.Cmdline) {
				t.Fatalf("fips image command line %q lacks fips=1", man.Boot.Cmdline)
			}
			ex, err := man.BootExpect()
			if err != nil {
				t.Fatal(err)
			}
			r, err := boot.Run(context.Background(), boot.Options{Disk: filepath.Join(res.Dir, "fips.qcow2"), DiskFormat: "qcow2",
				Firmware: boot.OVMF, Expect: ex, Timeout: 150 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			probe := r.Facts["health."+boot.OpenSSLProbe+".output"]
			if !tc.tamper {
				if !r.OK {
					t.Fatalf("fips did not pass: %s\nfailures: %v\nprobe:\n%s\nconsole:\n%s", r.Reason, r.Failures, probe, r.Console)
				}
				t.Logf("fips: status after %s; probe:\n%s", r.StatusAfter.Round(time.Millisecond), probe)
				return
			}
			if r.OK {
				t.Fatalf("a tampered fips.so passed the health check:\n%s", probe)
			}
			if probe == "" {
				t.Fatalf("no probe output (boot failed early: %s)\n%s", r.Reason, r.Console)
			}
			for _, bad := range []string{"provider.default.status", "SHA256.result=ok", "AES-256-GCM.result=ok"} {
				if strings.Contains(probe, bad) {
					t.Errorf("tampered module: probe shows %q — a fall-back:\n%s", bad, probe)
				}
			}
			t.Logf("tampered fips.so refused: %s\nprobe:\n%s", r.Reason, probe)
		})
	}
}

func flipByte(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	return err
}

func TestManifestBootExpect(t *testing.T) {
	if _, err := (&Manifest{Image: "container-core"}).BootExpect(); err == nil || !strings.Contains(err.Error(), "container-core is not bootable") {
		t.Errorf("container manifest: %v", err)
	}
	m := &Manifest{Image: "guard", Boot: &BootInfo{KernelRelease: "6.1.0-x", Cmdline: "console=ttyS0", RootHash: "abc123"},
		Packages: []ManifestPackage{{Name: "kernel"}}}
	ex, err := m.BootExpect()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range ex {
		all = append(all, e.String())
	}
	s := strings.Join(all, "\n")
	for _, want := range []string{"kernel.release=6.1.0-x", "kernel.cmdline~=keel.roothash=abc123", "root.write=EROFS"} {
		if !strings.Contains(s, want) {
			t.Errorf("guard expectations lack %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "health.") {
		t.Errorf("guard without openssl gets OpenSSL checks:\n%s", s)
	}
}
