package release

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/uki"
)

// TestKeelLinuxRelease is the main job on the real tree: a cut of Keel
// Linux builds (through the shared test cache), publishes, composes every
// image, boots the bootable ones (guard under Secure Boot), scans, gates,
// signs — and the result verifies.
func TestKeelLinuxRelease(t *testing.T) {
	testenv.Short(t, "cuts a Keel Linux release and boots its images (minutes)")
	testenv.RequireTool(t, "rpmbuild", "bwrap", "rpm2cpio", "cpio", "gcc", "go", "dpkg-deb", "depmod",
		"qemu-system-x86_64", "mkfs.erofs", "mkfs.ext4", "mkfs.vfat", "mcopy", "objcopy", "sbsign", "virt-fw-vars", "qemu-img")
	testenv.RequireShared(t, "lookaside/SHA256SUMS")
	d, err := distro.Load(filepath.Join(testenv.RepoRoot(), "distro"))
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	key, err := pgp.Generate("Keel Linux test", "test@keel-linux.invalid", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	sbKey, sbCert, _, err := uki.InitSigningKey(keys, "Keel test Secure Boot", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	day, _ := time.Parse("2006-01-02", "2026-11-01")
	rel := t.TempDir()
	ctx := logctx.WithLogger(context.Background(), slog.New(slog.NewTextHandler(t.Output(), nil)))
	res, err := Cut(ctx, Options{Distro: d, Cache: testenv.SharedCache(), Dir: rel, Date: day, Key: key,
		SecureBootKey: sbKey, SecureBootCert: sbCert, AllowDirty: true, KeelVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	for _, g := range m.Gates {
		// hardening is "waived": keel.yaml carries one written exemption
		// (libcrypto3's legacy.so, fortify).
		if g.Status != "pass" && !(g.Name == "hardening" && g.Status == "waived") {
			t.Errorf("gate %s: %s (%s) %v", g.Name, g.Status, g.Summary, g.Failures)
		}
	}
	booted := 0
	for _, im := range m.Images {
		if im.Format == "bootable" {
			booted++
			if im.BootSeconds <= 0 {
				t.Errorf("image %s has no boot time", im.Name)
			}
		}
	}
	if booted != 4 || len(m.Images) != 6 {
		t.Errorf("images: %+v", m.Images)
	}
	if m.CVEs == nil || m.CVEs.Fixed == 0 {
		t.Errorf("CVE summary: %+v", m.CVEs)
	}
	vr, err := Verify(context.Background(), res.Dir, key.Keyring())
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %v %v", err, vr)
	}
}
