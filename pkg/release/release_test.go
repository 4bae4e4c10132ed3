package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/release/render"
	"github.com/keel-linux/keel/pkg/source"
)

const treeConfig = `name: tiny
pretty_name: Tiny Linux
version: "1.0"
dist_tag: .t1
arch: x86_64
vendor: Test
source_date_epoch: changelog
build:
  jobs: 2
release:
  kernel_policy: kernel-policy.yaml
  exceptions:
    - {gate: cve-sla, item: "alpha:CVE-2099-0001", reason: "test: the fix ships in the next release"}
`

const kernelPolicy = `name: keel-test
options:
  - {option: CONFIG_DM_VERITY, values: [y, m], why: "guard host"}
`

const tinyImage = `name: tiny
kind: container
packages: [alpha]
rpmdb: true
container:
  cmd: ["/usr/share/alpha/d"]
outputs:
  - format: oci
    tag: latest
`

// alphaAdvisory: alpha before 1.1 is affected by a (made-up, test-only) CVE.
const alphaAdvisory = `{
  "schema_version": "1.6.0",
  "id": "KEEL-CVE-2099-0001-alpha",
  "modified": "2026-08-01T00:00:00Z",
  "aliases": ["CVE-2099-0001"],
  "summary": "alpha: test vulnerability",
  "affected": [{"package": {"ecosystem": "Keel Linux:1.0", "name": "alpha"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1.t1"}]}]}],
  "database_specific": {"keel": {"source": "keel", "package": "alpha", "cve": "CVE-2099-0001", "severity": "High",
    "status": "affected", "fix_available": "2026-08-01T00:00:00Z",
    "events": [{"time": "2026-08-01T00:00:00Z", "type": "detected"}]}}
}
`

func spec(name, version, install string) string {
	return `Name: ` + name + `
Version: ` + version + `
Release: 1%{?dist}
Summary: test package
License: MIT
BuildArch: noarch

%description
Test.

%prep

%build

%install
` + install + `

%files
/usr

%changelog
* Mon Jan 05 2026 Test <t@example.invalid> - ` + version + `-1
- test
`
}

func kernelSpec(version, verity string) string {
	return spec("kernel", version, `mkdir -p %{buildroot}/usr/lib/modules/6.1.0-test
printf 'CONFIG_A=y\nCONFIG_DM_VERITY=`+verity+`\n# CONFIG_B is not set\n' > %{buildroot}/usr/lib/modules/6.1.0-test/config`)
}

// tree writes revision r of a test distribution into dir.
func tree(t *testing.T, dir string, specs map[string]string) {
	t.Helper()
	os.RemoveAll(filepath.Join(dir, "SPECS"))
	os.WriteFile(filepath.Join(dir, "keel.yaml"), []byte(treeConfig), 0o644)
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	os.WriteFile(filepath.Join(dir, "images", "tiny.yaml"), []byte(tinyImage), 0o644)
	os.MkdirAll(filepath.Join(dir, "advisories", "keel", "alpha"), 0o755)
	os.WriteFile(filepath.Join(dir, "advisories", "keel", "alpha", "KEEL-CVE-2099-0001-alpha.json"), []byte(alphaAdvisory), 0o644)
	os.WriteFile(filepath.Join(dir, "kernel-policy.yaml"), []byte(kernelPolicy), 0o644)
	for n, s := range specs {
		os.MkdirAll(filepath.Join(dir, "SPECS", n), 0o755)
		os.WriteFile(filepath.Join(dir, "SPECS", n, n+".spec"), []byte(s), 0o644)
	}
}

func data(name string) string {
	return "mkdir -p %{buildroot}/usr/share/" + name + " && echo " + name + " > %{buildroot}/usr/share/" + name + "/d"
}

func TestReleaseLifecycle(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio")
	ctx := context.Background()
	src, rel, cache := t.TempDir(), t.TempDir(), t.TempDir()
	key, err := pgp.Generate("Test Release", "release@test.invalid", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	cut := func(date string, specs map[string]string, mut func(*Options)) (*Result, error) {
		if specs != nil {
			tree(t, src, specs)
		}
		d, err := distro.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		day, _ := time.Parse("2006-01-02", date)
		o := Options{Distro: d, Cache: cache, Dir: rel, Date: day, Key: key, KeelVersion: "test"}
		if mut != nil {
			mut(&o)
		}
		return Cut(ctx, o)
	}
	rev1 := map[string]string{"alpha": spec("alpha", "1.0", data("alpha")), "bravo": spec("bravo", "1.0", data("bravo")), "kernel": kernelSpec("6.1.1", "m")}
	r1, err := cut("2026-09-01", rev1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Manifest.Version != "1.0.20260901" || len(r1.Manifest.Packages) != 3 || len(r1.Manifest.Kernels) != 1 || len(r1.Manifest.Images) != 1 {
		t.Fatalf("first release: %+v", r1.Manifest)
	}
	// Re-running on unchanged inputs is a no-op.
	again, err := cut("2026-09-01", nil, nil)
	if err != nil || !again.NoOp {
		t.Fatalf("re-run: %v noop=%v", err, again != nil && again.NoOp)
	}

	rev2 := map[string]string{"alpha": spec("alpha", "1.1", data("alpha")), "charlie": spec("charlie", "2.0", data("charlie")), "kernel": kernelSpec("6.1.2", "y")}
	r2, err := cut("2026-10-01", rev2, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes, err := manifest.DiffReleases(r1.Dir, r2.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes.Updated) != 2 || len(notes.Added) != 1 || len(notes.Removed) != 1 || notes.Added[0].Name != "charlie" || notes.Removed[0].Name != "bravo" {
		t.Errorf("notes: updated %v added %v removed %v", notes.Updated, notes.Added, notes.Removed)
	}
	if len(notes.Kernels) != 1 || len(notes.Kernels[0].Config) != 1 || notes.Kernels[0].Config[0].Option != "CONFIG_DM_VERITY" || notes.Kernels[0].Config[0].Old != "m" {
		t.Errorf("kernel config changes: %+v", notes.Kernels)
	}
	if c := r1.Manifest.CVEs; c == nil || c.Open != 1 || c.Breached != 1 {
		t.Errorf("first release CVEs: %+v", c)
	}
	if g := r1.Manifest.Gates[3]; g.Name != "cve-sla" || g.Status != "waived" {
		t.Errorf("cve gate on release 1: %+v", g)
	}
	md, _ := os.ReadFile(filepath.Join(r2.Dir, manifest.NotesMD))
	for _, want := range []string{"alpha | noarch | alpha | 1.0-1.t1 → 1.1-1.t1", "`CONFIG_DM_VERITY`: m → y", "| hardening | pass |",
		"## CVEs fixed", "| CVE-2099-0001 | alpha | High | 1.1-1.t1 |", "## Images", "| tiny | container |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("notes.md lacks %q:\n%s", want, md)
		}
	}

	// A kernel that breaks Keel's policy fails the cut with a readable report, and nothing changes.
	before := snapshot(t, rel)
	rev3bad := map[string]string{"alpha": spec("alpha", "1.2", data("alpha")), "kernel": kernelSpec("6.1.3", "n")}
	_, err = cut("2026-11-01", rev3bad, nil)
	var ge *GateError
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "kernel-policy") || !strings.Contains(err.Error(), "release.exceptions") {
		t.Fatalf("gate failure: %v", err)
	}
	if after := snapshot(t, rel); after != before {
		t.Fatal("a failed cut changed releases/")
	}
	// ... unless an exception with a written reason is recorded.
	os.WriteFile(filepath.Join(src, "keel.yaml"), []byte(treeConfig+"    - {gate: kernel-policy, item: \"kernel:\", reason: \"test kernel without verity\"}\n"), 0o644)
	r3, err := cut("2026-11-01", nil, nil)
	if err != nil {
		t.Fatalf("cut with exception: %v", err)
	}
	if g := r3.Manifest.Gates[1]; g.Name != "kernel-policy" || g.Status != "waived" {
		t.Errorf("kernel gate %+v", g)
	}

	// Bad input: an earlier date, a dirty git tree; nothing changes.
	before = snapshot(t, rel)
	if _, err := cut("2026-10-15", nil, nil); err == nil || !strings.Contains(err.Error(), "earlier than the last release") {
		t.Errorf("earlier date: %v", err)
	}
	gitInit(t, src)
	os.WriteFile(filepath.Join(src, "SPECS", "alpha", "NOTE"), []byte("x"), 0o644)
	if _, err := cut("2026-12-01", nil, nil); err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
		t.Errorf("dirty tree: %v", err)
	}
	os.Remove(filepath.Join(src, "SPECS", "alpha", "NOTE"))
	if after := snapshot(t, rel); after != before {
		t.Fatal("refused cuts changed releases/")
	}

	// Promote, verify, and detect tampering.
	if err := Promote(rel, r2.Manifest.Version, "stable"); err != nil {
		t.Fatal(err)
	}
	idx, _ := manifest.ReadIndex(rel)
	if idx.Channels["stable"] != "1.0.20261001" || idx.Channels["preview"] != "1.0.20261101" || len(idx.Releases) != 3 {
		t.Errorf("index: %+v", idx)
	}
	checkDashboard(t, rel, r3.Dir)

	vr, err := Verify(ctx, r3.Dir, key.Keyring())
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify: %v %v", err, vr)
	}
	other, _ := pgp.Generate("Mallory", "m@test.invalid", time.Unix(1700000000, 0))
	if vr, _ := Verify(ctx, r3.Dir, other.Keyring()); len(vr.Problems) == 0 {
		t.Error("a release verified against the wrong key")
	}
	os.WriteFile(filepath.Join(r2.Dir, manifest.NotesMD), []byte("tampered"), 0o644)
	if vr, _ := Verify(ctx, r2.Dir, key.Keyring()); len(vr.Problems) == 0 || !strings.Contains(strings.Join(vr.Problems, "\n"), "notes.md: sha256") {
		t.Errorf("tampered notes not detected: %v", vr.Problems)
	}
	// A corrupted previous release stops the next cut.
	os.WriteFile(filepath.Join(r3.Dir, manifest.ReportsDir, "gates.json"), []byte("[]"), 0o644)
	if _, err := cut("2026-12-01", nil, nil); err == nil || !strings.Contains(err.Error(), "corrupted") {
		t.Errorf("cut on top of a corrupted release: %v", err)
	}
}

func gitInit(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "tree"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
}

// snapshot lists every path under dir, with mtime and size for files
// (a directory's own mtime moves when staging directories come and go).
func snapshot(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(p)
			if !info.IsDir() {
				b.WriteString(" " + info.ModTime().String() + " " + fmt.Sprint(info.Size()))
			}
			b.WriteString("\n")
		}
		return nil
	})
	return b.String()
}

// checkDashboard renders the pages in headless Chromium, as a person would
// open them, and checks what is on screen (DOM) and that a screenshot is made.
func checkDashboard(t *testing.T, rel, latest string) {
	t.Helper()
	testenv.RequireTool(t, "chromium")
	shot := os.Getenv("KEEL_DASHBOARD_SHOTS") // keep screenshots here to look at them
	if shot == "" {
		shot = t.TempDir()
	}
	os.MkdirAll(shot, 0o755)
	dump := func(page, name string) string {
		profile := t.TempDir()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile}
		dom, err := exec.Command("chromium", append(base, "--dump-dom", "file://"+page)...).Output()
		if err != nil {
			t.Fatalf("chromium --dump-dom %s: %v", page, err)
		}
		png := filepath.Join(shot, name+".png")
		if out, err := exec.Command("chromium", append(base, "--window-size=1100,1500", "--screenshot="+png, "file://"+page)...).CombinedOutput(); err != nil {
			t.Fatalf("chromium --screenshot: %v %s", err, out)
		}
		if st, err := os.Stat(png); err != nil || st.Size() < 10000 {
			t.Errorf("screenshot %s missing or blank: %v", png, err)
		}
		return string(dom)
	}
	dom := dump(filepath.Join(rel, render.DashboardFile), "dashboard")
	if n := strings.Count(dom, `class="release"`); n != 3 {
		t.Errorf("dashboard shows %d releases, want 3", n)
	}
	for _, want := range []string{"1.0.20261101", `<span class="tag">stable</span>`, `data-chart="Packages"`, `data-chart="Image sizes"`, "tiny</text>", "<circle"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	dom = dump(filepath.Join(latest, manifest.IndexHTML), "release")
	for _, want := range []string{`id="packages"`, "kernel-policy", "waived", "alpha</td>", "1.2-1.t1"} {
		if !strings.Contains(dom, want) {
			t.Errorf("release page lacks %q", want)
		}
	}
}

// keel release diff on two source trees: built through the cache, compared
// like releases (kernel config changes included).
func TestDiffTrees(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio")
	ctx := context.Background()
	cache := t.TempDir()
	a, b := t.TempDir(), t.TempDir()
	tree(t, a, map[string]string{"alpha": spec("alpha", "1.0", data("alpha")), "kernel": kernelSpec("6.1.1", "m")})
	tree(t, b, map[string]string{"alpha": spec("alpha", "2.0", data("alpha")), "kernel": kernelSpec("6.1.1", "y")})
	da, _ := distro.Load(a)
	db, _ := distro.Load(b)
	ma, ta, err := Snapshot(ctx, da, cache)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(ta)
	mb, tb, err := Snapshot(ctx, db, cache)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tb)
	n := DiffManifests(ta, ma, tb, mb)
	if len(n.Updated) != 1 || n.Updated[0].Old != "1.0-1.t1" || n.Updated[0].New != "2.0-1.t1" {
		t.Errorf("updated: %+v", n.Updated)
	}
	if len(n.Kernels) != 1 || len(n.Kernels[0].Config) != 1 || n.Kernels[0].Config[0].New != "y" {
		t.Errorf("kernels: %+v", n.Kernels)
	}
}

// An out-of-band security release carries only the packages that fix a
// High/Critical CVE open in the last release; the rest stay as they were.
func TestSecurityRelease(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio")
	ctx := context.Background()
	src, rel, cache := t.TempDir(), t.TempDir(), t.TempDir()
	key, _ := pgp.Generate("Test Release", "release@test.invalid", time.Unix(1700000000, 0))
	cut := func(date string, specs map[string]string, security bool) (*Result, error) {
		tree(t, src, specs)
		d, err := distro.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		day, _ := time.Parse("2006-01-02", date)
		return Cut(ctx, Options{Distro: d, Cache: cache, Dir: rel, Date: day, Key: key, KeelVersion: "test", Security: security})
	}
	if _, err := cut("2026-09-01", map[string]string{"alpha": spec("alpha", "1.0", data("alpha")), "bravo": spec("bravo", "1.0", data("bravo"))}, false); err != nil {
		t.Fatal(err)
	}
	// bravo moved on too, but it fixes nothing: it must not ship.
	r2, err := cut("2026-09-05", map[string]string{"alpha": spec("alpha", "1.1", data("alpha")), "bravo": spec("bravo", "2.0", data("bravo"))}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range r2.Manifest.Packages {
		got[p.Name] = p.Version
	}
	if got["alpha"] != "1.1" || got["bravo"] != "1.0" || !r2.Manifest.Security {
		t.Errorf("security release packages: %v", got)
	}
	if _, err := cut("2026-09-06", map[string]string{"alpha": spec("alpha", "1.1", data("alpha")), "bravo": spec("bravo", "3.0", data("bravo"))}, true); err == nil ||
		!strings.Contains(err.Error(), "no Critical, High or known-exploited CVE") {
		t.Errorf("security release with nothing to fix: %v", err)
	}
}

// Two cuts of the same tree for the same date, in different directories
// and with separate caches, produce the same bytes.
func TestCutReproducible(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio")
	key, _ := pgp.Generate("Test Release", "release@test.invalid", time.Unix(1700000000, 0))
	src := t.TempDir()
	tree(t, src, map[string]string{"alpha": spec("alpha", "1.1", data("alpha")), "kernel": kernelSpec("6.1.1", "m")})
	d, err := distro.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	day, _ := time.Parse("2006-01-02", "2026-10-01")
	var sums []map[string]string
	for i := 0; i < 2; i++ {
		res, err := Cut(context.Background(), Options{Distro: d, Cache: t.TempDir(), Dir: t.TempDir(), Date: day, Key: key, KeelVersion: "test"})
		if err != nil {
			t.Fatal(err)
		}
		s := map[string]string{}
		for _, a := range res.Manifest.Artifacts {
			s[a.Path] = a.SHA256
		}
		for _, f := range []string{manifest.ManifestFile, manifest.ManifestSig} {
			h, _ := source.Hash(filepath.Join(res.Dir, f))
			s[f] = h
		}
		sums = append(sums, s)
	}
	for p, h := range sums[0] {
		if sums[1][p] != h {
			t.Errorf("%s differs between two cuts", p)
		}
	}
	if len(sums[0]) != len(sums[1]) || len(sums[0]) < 20 {
		t.Errorf("artifact counts %d vs %d", len(sums[0]), len(sums[1]))
	}
}
