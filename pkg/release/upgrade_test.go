package release

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/assess"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/lifecycle"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// upgradeConfig: the test's shared libraries are built with plain flags, so
// only the checks they can pass are required.
const upgradeConfig = `name: tiny
pretty_name: Tiny Linux
version: "1.0"
dist_tag: .t1
arch: x86_64
source_date_epoch: changelog
hardening:
  require: [relro, bindnow, nxstack, norpath]
release:
  kernel_policy: kernel-policy.yaml
`

const upgradeLifecycle = `lines:
  - line: "1.0"
    released: 2026-09-01
    end_of_security_support: 2026-12-31
    end_of_life: 2027-03-31
`

// libSpec builds shared libraries: each "soname:VER1,VER2" becomes
// lib<name>.so.<n> with those symbol versions (a version script), so rpm's
// ELF dependency generator provides libx.so.1()(64bit) and libx.so.1(VER)(64bit).
func libSpec(version string, libs ...string) string {
	var build, files strings.Builder
	for _, l := range libs {
		soname, vers, _ := strings.Cut(l, ":")
		base := strings.SplitN(soname, ".so", 2)[0]
		build.WriteString("printf 'int f_" + base + "(void) { return 1; }\\n' > " + base + ".c\n")
		build.WriteString("printf '")
		prev := ""
		for _, v := range strings.Split(vers, ",") {
			build.WriteString(v + " { global: f_" + base + "; };" + prev + "\\n")
			prev = ""
		}
		build.WriteString("' > " + base + ".map\n")
		build.WriteString("gcc -shared -nostdlib -fPIC -O2 -Wl,-z,relro,-z,now,-z,noexecstack -Wl,--version-script=" + base + ".map -Wl,-soname," + soname +
			" -o " + soname + " " + base + ".c\n")
		files.WriteString("install -D -m 0755 " + soname + " %{buildroot}/usr/lib64/" + soname + "\n")
	}
	return `%global debug_package %{nil}
Name: libfoo
Version: ` + version + `
Release: 1%{?dist}
Summary: test libraries
License: MIT

%description
Test.

%prep

%build
` + build.String() + `
%install
` + files.String() + `
%files
/usr/lib64

%changelog
* Mon Jan 05 2026 Test <t@example.invalid> - ` + version + `-1
- test
`
}

// confSpec ships a sysctl.d file and a %config(noreplace) file.
func confSpec(version, sysctl, conf string) string {
	s := spec("tiny-conf", version, `mkdir -p %{buildroot}/usr/lib/sysctl.d %{buildroot}/etc
printf '`+sysctl+`' > %{buildroot}/usr/lib/sysctl.d/50-tiny.conf
printf '`+conf+`' > %{buildroot}/etc/tiny.conf`)
	return strings.Replace(s, "%files\n/usr\n", "%files\n/usr\n%config(noreplace) /etc/tiny.conf\n", 1)
}

func withObsoletes(s, obs string) string {
	return strings.Replace(s, "BuildArch: noarch\n", "BuildArch: noarch\nObsoletes: "+obs+"\n", 1)
}

// TestUpgradeAssessment cuts two releases of a test tree — a package
// removed, one obsoleted, a soname bumped, a symbol version dropped, a
// kernel option off, a sysctl default and a %config file changed — and
// checks every line of keel assess upgrade against them, as releases, as
// image manifests, and in the second release's notes.
func TestUpgradeAssessment(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio", "gcc")
	ctx := context.Background()
	src, rel, cache := t.TempDir(), t.TempDir(), t.TempDir()
	key, err := pgp.Generate("Test Release", "release@test.invalid", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	image := `name: tiny
kind: container
packages: [alpha, libfoo, tiny-conf]
assume_provided: ["rtld(GNU_HASH)"]
rpmdb: true
outputs:
  - format: oci
    tag: latest
`
	cut := func(date string, specs map[string]string) *Result {
		t.Helper()
		tree(t, src, specs)
		os.WriteFile(filepath.Join(src, "keel.yaml"), []byte(upgradeConfig), 0o644)
		os.WriteFile(filepath.Join(src, "images", "tiny.yaml"), []byte(image), 0o644)
		os.WriteFile(filepath.Join(src, lifecycle.FileName), []byte(upgradeLifecycle), 0o644)
		os.RemoveAll(filepath.Join(src, "advisories"))
		os.MkdirAll(filepath.Join(src, "advisories"), 0o755)
		d, err := distro.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		day, _ := time.Parse("2006-01-02", date)
		r, err := Cut(ctx, Options{Distro: d, Cache: cache, Dir: rel, Date: day, Key: key, KeelVersion: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := cut("2026-10-01", map[string]string{
		"alpha":     spec("alpha", "1.0", data("alpha")),
		"bravo":     spec("bravo", "1.0", data("bravo")),
		"charlie":   spec("charlie", "1.0", data("charlie")),
		"libfoo":    libSpec("1.0", "libfoo.so.1:FOO_1.0", "libbar.so.1:BAR_1.0,BAR_1.1"),
		"tiny-conf": confSpec("1.0", `net.ipv4.ip_forward = 0\nkernel.kptr_restrict = 1\n`, "mode=a\n"),
		"kernel":    kernelSpec("6.1.1", "m"),
	})
	r2 := cut("2026-11-01", map[string]string{
		"alpha":     spec("alpha", "1.1", data("alpha")),
		"delta":     withObsoletes(spec("delta", "1.0", data("delta")), "charlie < 2"),
		"libfoo":    libSpec("2.0", "libfoo.so.2:FOO_2.0", "libbar.so.1:BAR_1.0"),
		"tiny-conf": confSpec("1.1", `net.ipv4.ip_forward = 1\nkernel.kptr_restrict = 1\n`, "mode=b\n"),
		"kernel":    strings.Replace(kernelSpec("6.1.2", "y"), "CONFIG_A=y", "CONFIG_A=n", 1),
	})
	day, _ := time.Parse(time.DateOnly, "2026-11-15")
	check := func(t *testing.T, r *assess.UpgradeReport, wantKernel bool) {
		t.Helper()
		if r.Risk != assess.RiskHigh {
			t.Errorf("risk %s, want high", r.Risk)
		}
		gone := map[string]string{}
		for _, p := range r.Packages.Removed {
			gone[p.Name] = p.How + " " + p.By
		}
		if r.From.Kind == assess.KindRelease && (gone["bravo"] != "removed " || gone["charlie"] != "obsoleted delta") {
			t.Errorf("packages removed: %+v", r.Packages.Removed)
		}
		if len(r.Sonames) != 1 || r.Sonames[0].Name != "libfoo.so.1()(64bit)" || strings.Join(r.Sonames[0].Now, ",") != "libfoo.so.2" {
			t.Errorf("sonames dropped: %+v", r.Sonames)
		}
		if len(r.SymbolVersions) != 1 || r.SymbolVersions[0].Name != "libbar.so.1(BAR_1.1)(64bit)" {
			t.Errorf("symbol versions dropped: %+v", r.SymbolVersions)
		}
		if len(r.Config) != 1 || r.Config[0].Path != "/etc/tiny.conf" || r.Config[0].Change != "changed" || !r.Config[0].NoReplace {
			t.Errorf("config files: %+v", r.Config)
		}
		if len(r.Sysctl) != 1 || r.Sysctl[0].Key != "net.ipv4.ip_forward" || r.Sysctl[0].Old != "0" || r.Sysctl[0].New != "1" {
			t.Errorf("sysctl: %+v", r.Sysctl)
		}
		if wantKernel && (len(r.Kernels) != 1 || r.Kernels[0].Old != "6.1.1-1.t1" || strings.Join(r.Kernels[0].TurnedOff, ",") != "CONFIG_A" || r.Kernels[0].Changed != 2) {
			t.Errorf("kernels: %+v", r.Kernels)
		}
		if r.Support == nil || r.Support.To.State != "supported" || r.Support.To.DaysToSecurityEnd != 46 {
			t.Errorf("support: %+v", r.Support)
		}
	}
	t.Run("releases", func(t *testing.T) {
		r, err := assess.Upgrade(ctx, assess.UpgradeOptions{From: r1.Dir, To: r2.Dir, Day: day})
		if err != nil {
			t.Fatal(err)
		}
		check(t, r, true)
		var b strings.Builder
		r.WriteText(&b)
		t.Log("\n" + b.String()) // docs/assess.md's example
		for _, want := range []string{"risk HIGH", "bravo", "obsoleted by delta", "libfoo.so.1()(64bit)", "(now: libfoo.so.2)",
			"libbar.so.1(BAR_1.1)(64bit)", "off: CONFIG_A", "net.ipv4.ip_forward", "0 → 1", "/etc/tiny.conf", "security support until 2026-12-31 (46 days)"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, b.String())
			}
		}
	})
	t.Run("images", func(t *testing.T) {
		im := func(r *Result) string { return filepath.Join(r.Dir, ImagesDir, "tiny", "manifest.json") }
		r, err := assess.Upgrade(ctx, assess.UpgradeOptions{From: im(r1), To: im(r2), Day: day})
		if err != nil {
			t.Fatal(err)
		}
		check(t, r, false)
	})
	t.Run("workload", func(t *testing.T) {
		// A script whose interpreter is the library the upgrade bumps: it
		// passes on the first release and breaks on the second.
		wl := t.TempDir()
		os.MkdirAll(filepath.Join(wl, "app"), 0o755)
		os.WriteFile(filepath.Join(wl, "app", "run"), []byte("#!/usr/lib64/libfoo.so.1\n"), 0o755)
		r, err := assess.Upgrade(ctx, assess.UpgradeOptions{From: r1.Dir, To: r2.Dir, Day: day, Workload: wl, BaseImage: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		w := r.Workload
		if w == nil || w.FromBreak != 0 || len(w.New) != 1 || w.New[0].File != "/app/run" || w.New[0].Need != "/usr/lib64/libfoo.so.1" {
			t.Fatalf("workload: %+v", w)
		}
		var b strings.Builder
		r.WriteText(&b)
		if !strings.Contains(b.String(), "workload "+wl+": 1 break(s) the upgrade brings: /app/run: /usr/lib64/libfoo.so.1") {
			t.Errorf("text:\n%s", b.String())
		}
	})
	t.Run("bench", func(t *testing.T) {
		// Sizes and package counts of a container image (no boot: bootable
		// images' boots are measured by the command, not in make test).
		b, err := assess.Bench(ctx, assess.BenchOptions{From: r1.Dir, To: r2.Dir, Image: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		if b.From.Packages != 3 || b.To.Packages != 3 || b.Ratios["packages"] != 1 || b.From.RootSize == 0 || b.Ratios["disk_size"] == 0 {
			t.Errorf("bench: %+v", b)
		}
		if _, err := assess.Bench(ctx, assess.BenchOptions{From: r1.Dir, To: r2.Dir, Image: "tiny", Rounds: 1}); err == nil ||
			!strings.Contains(err.Error(), "not bootable") {
			t.Errorf("boot rounds of a container image: %v", err)
		}
	})
	t.Run("notes", func(t *testing.T) {
		n, err := manifest.ReadNotes(r2.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if n.Upgrading == nil || n.Upgrading.From != r1.Manifest.Version || n.Upgrading.Risk != assess.RiskHigh {
			t.Fatalf("notes.json upgrading: %+v", n.Upgrading)
		}
		md, _ := os.ReadFile(filepath.Join(r2.Dir, manifest.NotesMD))
		for _, want := range []string{"## Upgrading from the previous release", "risk **high**", "libfoo.so.1()(64bit)", "Security support for this line ends 2026-12-31"} {
			if !strings.Contains(string(md), want) {
				t.Errorf("notes.md lacks %q:\n%s", want, md)
			}
		}
	})
}
