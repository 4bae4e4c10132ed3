package scan

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
)

const feed0909 = "data/azurelinux-oval/azurelinux-3.0-oval-2024-09-09.xml"

func loadFeed(t testing.TB, rel string) (*oval.Definitions, []*advisory.Advisory) {
	t.Helper()
	p := testenv.RequireShared(t, rel)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := oval.Parse(p, f)
	if err != nil {
		t.Fatal(err)
	}
	advs, skips := advisory.FromOVAL(d, advisory.OVALImport{IDPrefix: "AZL", Ecosystem: "Azure Linux:3.0"})
	if len(skips) != 0 {
		t.Fatalf("skipped %d definitions of the real feed: %v", len(skips), skips[:1])
	}
	return d, advs
}

// rpmVercmp asks rpm itself (lua rpm.vercmp, full EVR) for many pairs at once.
func rpmVercmp(t *testing.T, pairs [][2]string) []int {
	t.Helper()
	var b strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&b, "print(rpm.vercmp(%q, %q)) print(\"\\n\")\n", p[0], p[1])
	}
	script := filepath.Join(t.TempDir(), "vercmp.lua")
	if err := os.WriteFile(script, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("rpm", "--eval", `%{lua: dofile("`+script+`")}`).CombinedOutput()
	if err != nil {
		t.Fatalf("rpm --eval: %v\n%s", err, out)
	}
	var res []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(sc.Text()), &n); err == nil {
			res = append(res, n)
		}
	}
	if len(res) != len(pairs) {
		t.Fatalf("rpm printed %d results for %d pairs:\n%s", len(res), len(pairs), out)
	}
	return res
}

// Every comparison the matcher makes against the real feed's fixed EVRs
// agrees with rpm's own.
func TestVercmpAgreesWithRPM(t *testing.T) {
	testenv.RequireTool(t, "rpm")
	_, advs := loadFeed(t, feed0909)
	seen := map[string]bool{}
	var pairs [][2]string
	mutations := []func(string) string{
		func(s string) string { return s },
		func(s string) string { return strings.Replace(s, "-", "~rc1-", 1) },
		func(s string) string { return strings.Replace(s, "-", "^git2-", 1) },
		func(s string) string { return strings.Replace(s, ".azl3", ".kl1", 1) },
		func(s string) string { return strings.Replace(s, "0:", "1:", 1) },
		func(s string) string { return regexp.MustCompile(`-([0-9]+)`).ReplaceAllString(s, "-${1}0") },
		func(s string) string { return strings.Replace(s, ".", ".0.", 1) },
		func(s string) string { return strings.TrimPrefix(s, "0:") + "a" },
	}
	for _, a := range advs {
		fx := a.FixedEVR()
		if fx == "" || seen[fx] {
			continue
		}
		seen[fx] = true
		for _, m := range mutations {
			pairs = append(pairs, [2]string{m(fx), fx})
		}
	}
	pairs = append(pairs, [][2]string{{"1.0~rc1-1", "1.0-1"}, {"1.0^git1-1", "1.0-1"}, {"1.0^git1-1", "1.0.1-1"}, {"1.0~~-1", "1.0~-1"}, {"2:1-1", "1:9-9"}}...)
	want := rpmVercmp(t, pairs)
	for i, p := range pairs {
		got, err := CompareEVR(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		if got != want[i] {
			t.Errorf("compare(%s, %s) = %d, rpm says %d", p[0], p[1], got, want[i])
		}
	}
	t.Logf("%d comparisons agree with rpm", len(pairs))
}

var crossPkgs = []struct{ name, epoch, version, release string }{
	{"zlib", "", "1.2.13", "1.azl3"},       // < 1.3.1-1: affected
	{"busybox", "", "1.36.1", "5.azl3"},    // affected by the 1.36.1-7 definition only
	{"curl", "", "8.8.0", "1.azl3"},        // equal to the fix: not affected
	{"expat", "", "2.6.2~rc1", "1.azl3"},   // tilde sorts before the fix: affected
	{"vim", "", "9.0.2190^git1", "1.azl3"}, // caret sorts after: not affected
	{"mariadb", "1", "10.6.9", "5.azl3"},   // epoch 1 beats 0: not affected
	{"kernel", "", "6.6.29.1", "3.azl3"},   // several definitions
	{"keel-notinfeed", "", "1.0", "1.kl1"},
}

// crossProvides are extra Provides of crossPkgs: Go modules vendored into a
// package, as keel-go-macros writes them (rpm's "~" for Go's "-").
var crossProvides = map[string]string{
	"keel-notinfeed": "Provides: bundled(golang(github.com/example/lib)) = 1.2.0\nProvides: bundled(golang(github.com/example/newer)) = 0.0.0~20240101000000~abcdef123456\n",
}

// buildRoot rpmbuilds tiny packages and installs them (--justdb) into an
// image root's rpmdb at usr/lib/sysimage/rpm. It returns the root, the RPM
// paths and a HOME whose .rpmmacros points rpm (and OpenSCAP) there.
func buildRoot(t *testing.T) (root string, rpms []string, home string) {
	t.Helper()
	testenv.RequireTool(t, "rpmbuild", "rpm")
	dir := t.TempDir()
	home = filepath.Join(dir, "home")
	root = filepath.Join(dir, "root")
	top := filepath.Join(dir, "top")
	for _, d := range []string{home, root} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(home, ".rpmmacros"), []byte("%_dbpath /usr/lib/sysimage/rpm\n"), 0o644)
	for _, p := range crossPkgs {
		ep := ""
		if p.epoch != "" {
			ep = "Epoch: " + p.epoch + "\n"
		}
		ep += crossProvides[p.name]
		spec := fmt.Sprintf("Name: %s\n%sVersion: %s\nRelease: %s\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%%description\ntest\n%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s > %%{buildroot}/usr/share/%s/id\n%%files\n/usr/share/%s/id\n",
			p.name, ep, p.version, p.release, p.name, p.name, p.name, p.name)
		sp := filepath.Join(dir, p.name+".spec")
		os.WriteFile(sp, []byte(spec), 0o644)
		cmd := exec.Command("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", sp)
		cmd.Env = append(os.Environ(), "HOME="+home, "SOURCE_DATE_EPOCH=1700000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpmbuild %s: %v\n%s", p.name, err, out)
		}
	}
	rpms, _ = filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
	sort.Strings(rpms)
	args := append([]string{"--root", root, "--dbpath", "/usr/lib/sysimage/rpm", "-i", "--nodeps", "--justdb"}, rpms...)
	cmd := exec.Command("rpm", args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm -i --justdb: %v\n%s", err, out)
	}
	return root, rpms, home
}

func TestReadRPMDBAndRPMs(t *testing.T) {
	root, rpms, _ := buildRoot(t)
	ctx := context.Background()
	db, err := inventory.ReadRPMDB(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := inventory.ReadRPMs(ctx, rpms)
	if err != nil {
		t.Fatal(err)
	}
	if len(db) != len(crossPkgs) || len(files) != len(crossPkgs) {
		t.Fatalf("rpmdb has %d, files %d, want %d", len(db), len(files), len(crossPkgs))
	}
	for i := range db {
		if db[i].Name != files[i].Name || db[i].EVR() != files[i].EVR() || db[i].SourceName() != db[i].Name {
			t.Errorf("rpmdb %+v != file %+v", db[i], files[i])
		}
	}
	// An un-checkpointed WAL (as dnf leaves it) must be seen, not ignored.
	conn, err := sql.Open("sqlite", filepath.Join(root, inventory.RPMDBPath))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=0", "DELETE FROM Packages WHERE hnum = (SELECT MIN(hnum) FROM Packages)"} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if st, err := os.Stat(filepath.Join(root, inventory.RPMDBPath) + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("no WAL to test with: %v", err)
	}
	db2, err := inventory.ReadRPMDB(ctx, root)
	if err != nil || len(db2) != len(crossPkgs)-1 {
		t.Fatalf("with a WAL: %d packages, %v", len(db2), err)
	}
}

// Findings on an image root equal what OpenSCAP reports for the same OVAL
// file and root.
func TestOpenSCAPCrossCheck(t *testing.T) {
	testenv.RequireTool(t, "oscap")
	d, advs := loadFeed(t, feed0909)
	root, _, home := buildRoot(t)
	feed := testenv.RequireShared(t, feed0909)

	// The real AZL feed puts its extension elements before <description>,
	// which oscap's schema check rejects; feed oscap the same definitions as
	// re-serialized by pkg/oval (order fixed, content identical).
	b, err := oval.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	fixed := filepath.Join(t.TempDir(), "feed.xml")
	os.WriteFile(fixed, b, 0o644)
	_ = feed
	cmd := exec.Command("oscap", "oval", "eval", "--results", filepath.Join(t.TempDir(), "res.xml"), fixed)
	cmd.Env = append(os.Environ(), "HOME="+home, "OSCAP_PROBE_ROOT="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oscap oval eval: %v\n%s", err, out)
	}
	want := map[string]bool{}
	re := regexp.MustCompile(`Definition oval:com\.microsoft\.azurelinux:def:([0-9]+): true`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		want["AZL-"+m[1]] = true
	}
	if len(want) == 0 {
		t.Fatalf("oscap found nothing; is the rpmdb visible to it?\n%.2000s", out)
	}
	pkgs, err := inventory.ReadRPMDB(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), pkgs, Options{Advisories: advs, FailOn: "none", Now: time.Date(2024, 9, 10, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range rep.Findings {
		if f.Status == advisory.StatusAffected {
			for _, id := range f.Advisories {
				got[id] = true
			}
		}
	}
	// Findings group advisories per CVE; recheck each advisory on its own.
	for id := range got {
		delete(got, id)
	}
	for _, a := range advs {
		for _, p := range pkgs {
			if p.SourceName() == a.Keel.Package {
				if st, _ := a.Match(p.EVR()); st == advisory.StatusAffected {
					got[a.OSV.ID] = true
				}
			}
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("oscap says %s is true, keel does not", id)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("keel says %s is affected, oscap does not", id)
		}
	}
	if rep.Counts.Affected == 0 {
		t.Error("scan reported no affected findings")
	}
	t.Logf("oscap and keel agree on %d true definitions (%d findings)", len(want), len(rep.Findings))
}

func TestManifestAndSARIF(t *testing.T) {
	man := []byte(`{"packages":[
	 {"name":"zlib","epoch":0,"version":"1.2.13","release":"1.kl1","arch":"x86_64","source":"zlib"},
	 {"name":"libz-devel","version":"1.2.13","release":"1.kl1","arch":"x86_64","sourcerpm":"zlib-1.2.13-1.kl1.src.rpm"},
	 {"name":"hello","version":"2.10","release":"1.kl1"}]}`)
	pkgs, err := inventory.ParseManifest("m.json", man)
	if err != nil {
		t.Fatal(err)
	}
	a := &advisory.Advisory{}
	a.OSV.ID = "KEEL-CVE-2023-45853-zlib"
	a.Keel = advisory.Keel{Source: "keel", Package: "zlib", CVE: "CVE-2023-45853", Status: "affected", Severity: "Critical"}
	a.OSV.Affected = append(a.OSV.Affected, osvAffected("zlib", "0:1.2.13-2.kl1"))
	rep, err := Run(context.Background(), pkgs, Options{Advisories: []*advisory.Advisory{a}})
	if _, ok := err.(*FindingsError); !ok {
		t.Fatalf("want a FindingsError (exit 3), got %v", err)
	}
	if len(rep.Findings) != 2 || rep.Findings[0].Source != "zlib" || rep.Findings[1].Package != "zlib" {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, rep, "test"); err != nil {
		t.Fatal(err)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &sarif); err != nil {
		t.Fatal(err)
	}
	if sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) != 2 || sarif.Runs[0].Results[0].Level != "error" {
		t.Fatalf("sarif: %s", buf.String())
	}
	if _, err := Run(context.Background(), pkgs, Options{Advisories: []*advisory.Advisory{a}, FailOn: "none"}); err != nil {
		t.Fatalf("--fail-on none still failed: %v", err)
	}
}

// Two sources disagreeing on one package yield "unknown", and Keel's own
// record overrides both.
func TestConflicts(t *testing.T) {
	mk := func(id, src, fixed, status string) *advisory.Advisory {
		a := &advisory.Advisory{}
		a.OSV.ID = id
		a.Keel = advisory.Keel{Source: src, Package: "zlib", CVE: "CVE-2023-45853", Status: status, Justification: "vulnerable_code_not_present"}
		if status != advisory.StatusNotAffected {
			a.OSV.Affected = append(a.OSV.Affected, osvAffected("zlib", fixed))
		}
		return a
	}
	pkgs := []inventory.Package{{Name: "zlib", Version: "1.2.13", Release: "1.kl1"}}
	a, b := mk("AZL-1", "azurelinux-oval", "1.2.13-2", advisory.StatusAffected), mk("OSV-1", "osv", "1.2.12-1", advisory.StatusAffected)
	rep, _ := Run(context.Background(), pkgs, Options{Advisories: []*advisory.Advisory{a, b}, FailOn: "none"})
	if len(rep.Findings) != 1 || rep.Findings[0].Status != advisory.StatusUnknown || !strings.Contains(rep.Findings[0].Reason, "conflicting") {
		t.Fatalf("want one unknown finding, got %+v", rep.Findings)
	}
	k := mk("KEEL-CVE-2023-45853-zlib", "keel", "", advisory.StatusNotAffected)
	rep, _ = Run(context.Background(), pkgs, Options{Advisories: []*advisory.Advisory{a, b, k}, FailOn: "none", IncludeFixed: true})
	if len(rep.Findings) != 1 || rep.Findings[0].Status != advisory.StatusNotAffected {
		t.Fatalf("keel's VEX must win, got %+v", rep.Findings)
	}
}

func TestPurlRoundTrip(t *testing.T) {
	p := inventory.Package{Name: "glibc", Epoch: 2, Version: "2.36", Release: "9+deb12u14.kl1", Arch: "x86_64"}
	s := p.Purl(inventory.PurlOptions{Namespace: "keel", Distro: "keel-1.0"})
	if want := "pkg:rpm/keel/glibc@2.36-9%2Bdeb12u14.kl1?arch=x86_64&distro=keel-1.0&epoch=2"; s != want {
		t.Fatalf("purl %s, want %s", s, want)
	}
	q, err := inventory.ParsePurl(s)
	if err != nil || q.Name != p.Name || q.EVR() != p.EVR() || q.Arch != p.Arch {
		t.Fatalf("round trip: %+v %v", q, err)
	}
}

func osvAffected(name, fixed string) osv.Affected {
	ev := []osv.Event{{Introduced: "0"}}
	if fixed != "" {
		ev = append(ev, osv.Event{Fixed: fixed})
	}
	return osv.Affected{Package: osv.Package{Ecosystem: advisory.Ecosystem, Name: name},
		Ranges: []osv.Range{{Type: osv.RangeEcosystem, Events: ev}}}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"packages":[{"name":"a","version":"1","release":"1","epoch":1,"sourcerpm":"a-1-1.src.rpm"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { inventory.ParseManifest("f", b) })
}

func FuzzParsePurl(f *testing.F) {
	f.Add("pkg:rpm/keel/zlib@1.2.13-1.kl1?arch=x86_64&epoch=1&upstream=zlib-1.2.13-1.kl1.src.rpm")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := inventory.ParsePurl(s)
		if err == nil && (p.Name == "" || p.Version == "" || p.Release == "") {
			t.Fatalf("accepted %q as %+v", s, p)
		}
	})
}

// genPackages makes n installed packages: every package the feed names (at
// a version below, at or above its fixes) plus synthetic ones.
func genPackages(advs []*advisory.Advisory, n int) []inventory.Package {
	var names []string
	seen := map[string]bool{}
	for _, a := range advs {
		if !seen[a.Keel.Package] {
			seen[a.Keel.Package] = true
			names = append(names, a.Keel.Package)
		}
	}
	sort.Strings(names)
	out := make([]inventory.Package, 0, n)
	for i := 0; len(out) < n; i++ {
		if i < len(names) {
			out = append(out, inventory.Package{Name: names[i], Version: fmt.Sprintf("%d.%d", i%7, i%13), Release: fmt.Sprintf("%d.azl3", i%5), Arch: "x86_64"})
			continue
		}
		out = append(out, inventory.Package{Name: fmt.Sprintf("synthetic-%04d", i), Version: "1.0", Release: "1.kl1", Arch: "x86_64"})
	}
	return out
}

// BenchmarkOVALImportAndScan1500: parse the real AZL feed, convert it, and
// evaluate it against 1,500 packages (the make bench goal is < 1 s).
func BenchmarkOVALImportAndScan1500(b *testing.B) {
	p := testenv.RequireShared(b, feed0909)
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	_, advs := loadFeed(b, feed0909)
	pkgs := genPackages(advs, 1500)
	b.ResetTimer()
	for range b.N {
		d, err := oval.Parse(p, bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		advs, _ := advisory.FromOVAL(d, advisory.OVALImport{IDPrefix: "AZL", Ecosystem: "Azure Linux:3.0"})
		if _, err := Run(context.Background(), pkgs, Options{Advisories: advs, FailOn: "none"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSLAStatesInScan(t *testing.T) {
	detected := time.Date(2024, 9, 9, 0, 0, 0, 0, time.UTC)
	mk := func(id, sev string, kev bool) *advisory.Advisory {
		a := &advisory.Advisory{}
		a.OSV.ID = id
		fix := detected
		a.Keel = advisory.Keel{Source: "azurelinux-oval", Package: "p" + id, CVE: "CVE-" + id, Status: "affected", Severity: sev, KEV: kev,
			FixAvailable: &fix, Events: []advisory.Event{{Time: detected, Type: advisory.EventDetected}}}
		a.OSV.Affected = append(a.OSV.Affected, osvAffected("p"+id, "2.0-1"))
		return a
	}
	advs := []*advisory.Advisory{mk("1", "High", false), mk("2", "Low", true), mk("3", "Medium", false), mk("4", "Critical", false)}
	var pkgs []inventory.Package
	for _, a := range advs {
		pkgs = append(pkgs, inventory.Package{Name: a.Keel.Package, Version: "1.0", Release: "1"})
	}
	now := time.Date(2024, 9, 24, 0, 0, 0, 0, time.UTC) // 15 days later
	rep, _ := Run(context.Background(), pkgs, Options{Advisories: advs, Now: now, FailOn: "none"})
	want := map[string]string{"CVE-1": advisory.SLABreach, "CVE-2": advisory.SLABreach, "CVE-3": advisory.SLAOpen, "CVE-4": advisory.SLABreach}
	for _, f := range rep.Findings {
		if f.SLA != want[f.CVE] {
			t.Errorf("%s (%s): SLA %s, want %s", f.CVE, f.Severity, f.SLA, want[f.CVE])
		}
	}
	if rep.Counts.SLA[advisory.SLABreach] != 3 || rep.SLAByPackage["p3"][advisory.SLAOpen] != 1 {
		t.Fatalf("counts %+v by package %+v", rep.Counts.SLA, rep.SLAByPackage)
	}
}

// An OSV record of the Go ecosystem names the vulnerable module inside the
// package that vendors it; a module outside the record's range is no finding.
func TestGoModuleAdvisory(t *testing.T) {
	root, _, _ := buildRoot(t)
	pkgs, err := inventory.ReadRPMDB(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	goRange := func(events ...osv.Event) []osv.Range { return []osv.Range{{Type: osv.RangeSemver, Events: events}} }
	advs, skips := advisory.FromOSV([]*osv.Vulnerability{
		{ID: "GO-2099-0001", Aliases: []string{"CVE-2099-0001"}, Affected: []osv.Affected{{
			Package: osv.Package{Ecosystem: advisory.GoEcosystem, Name: "github.com/example/lib"},
			Ranges:  goRange(osv.Event{Introduced: "0"}, osv.Event{Fixed: "1.3.0"})}}},
		{ID: "GO-2099-0002", Aliases: []string{"CVE-2099-0002"}, Affected: []osv.Affected{{
			Package: osv.Package{Ecosystem: advisory.GoEcosystem, Name: "github.com/example/newer"},
			Ranges:  goRange(osv.Event{Introduced: "0"}, osv.Event{Fixed: "0.0.0-20230101000000-000000000000"})}}},
		{ID: "GO-2099-0003", Affected: []osv.Affected{{
			Package: osv.Package{Ecosystem: advisory.GoEcosystem, Name: "github.com/example/bad"},
			Ranges:  []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}}}}}}},
	})
	if len(skips) != 1 || !strings.Contains(skips[0].Reason, "want SEMVER") {
		t.Fatalf("skips %+v, want the ECOSYSTEM-ranged Go record refused", skips)
	}
	ix, _ := NewIndex(advs)
	var got []string
	for _, f := range Match(pkgs, ix, Options{Now: time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC)}) {
		got = append(got, f.CVE+" "+f.Package+" "+f.Module+" "+f.Status+" "+f.FixedEVR)
	}
	want := "CVE-2099-0001 keel-notinfeed github.com/example/lib@v1.2.0 affected 1.3.0," +
		"CVE-2099-0002 keel-notinfeed github.com/example/newer@v0.0.0-20240101000000-abcdef123456 fixed 0.0.0-20230101000000-000000000000"
	if strings.Join(got, ",") != want {
		t.Fatalf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
