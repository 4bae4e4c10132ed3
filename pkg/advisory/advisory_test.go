package advisory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/csaf"
	"github.com/keel-linux/keel/pkg/nvd"
	"github.com/keel-linux/keel/pkg/openvex"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/spec"
)

var (
	t0 = time.Date(2024, 9, 9, 13, 0, 0, 0, time.UTC)
	t1 = time.Date(2024, 10, 10, 13, 0, 0, 0, time.UTC)
)

func dirDigest(t *testing.T, root string) string {
	t.Helper()
	var b bytes.Buffer
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			b.WriteString(p + "\x00" + string(data) + "\x00")
		}
		return nil
	})
	return b.String()
}

// Two real snapshots a month apart: the second sync adds, updates and
// withdraws; a repeat changes nothing, byte for byte.
func TestOVALSnapshotsIncremental(t *testing.T) {
	a := testenv.RequireShared(t, "data/azurelinux-oval/azurelinux-3.0-oval-2024-09-09.xml")
	b := testenv.RequireShared(t, "data/azurelinux-oval/azurelinux-3.0-oval-2024-10-10.xml")
	st := Store{Root: t.TempDir()}
	ctx := context.Background()
	r1, err := st.SyncInputs(ctx, ImportOptions{Kind: "oval", Inputs: []string{a}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Added) != 1203 || len(r1.Skipped) != 0 {
		t.Fatalf("first sync: %d added, %d skipped", len(r1.Added), len(r1.Skipped))
	}
	if len(r1.Conflicts) == 0 {
		t.Error("the 09-09 feed has two definitions for CVE-2023-1393 in xorg-x11-server; want it reported")
	}
	r2, err := st.SyncInputs(ctx, ImportOptions{Kind: "oval", Inputs: []string{b}, Now: t1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second sync: %d added, %d updated, %d withdrawn, %d unchanged", len(r2.Added), len(r2.Updated), len(r2.Withdrawn), r2.Unchanged)
	if len(r2.Added) != 20 || len(r2.Updated) != 13 || len(r2.Withdrawn) != 1 || r2.Unchanged != 1189 {
		t.Fatalf("second sync: %+v", r2)
	}
	before := dirDigest(t, st.Root)
	r3, err := st.SyncInputs(ctx, ImportOptions{Kind: "oval", Inputs: []string{b}, Now: t1.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Added)+len(r3.Updated)+len(r3.Withdrawn) != 0 {
		t.Fatalf("repeat sync changed records: %+v", r3)
	}
	// Only the sync state's timestamp may move.
	res, _ := st.Load("azurelinux-oval")
	if len(res.Advisories) != 1223 || len(res.Errors) != 0 {
		t.Fatalf("store holds %d records, %d errors", len(res.Advisories), len(res.Errors))
	}
	if after := dirDigest(t, st.Root); strings.Count(before, "\x00") != strings.Count(after, "\x00") {
		t.Fatal("repeat sync changed the store's file set")
	}
	up, err := ReadFile(filepath.Join(st.Root, "azurelinux-oval", "cmake", "AZL-35782.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev := up.Keel.Events
	if len(ev) != 2 || ev[0].Type != EventDetected || !ev[0].Time.Equal(t0) || ev[1].Type != EventUpdated || ev[1].EVR != "0:3.30.3-2.azl3" {
		t.Fatalf("events of an updated record: %+v", ev)
	}
	w, err := ReadFile(filepath.Join(st.Root, "azurelinux-oval", up.Keel.Package, "AZL-35782.json"))
	if err != nil || w.OSV.Withdrawn != nil {
		t.Fatal("updated record must not be withdrawn")
	}
	withdrawn := 0
	for _, a := range res.Advisories {
		if a.OSV.Withdrawn != nil {
			withdrawn++
			if last := a.Keel.Events[len(a.Keel.Events)-1]; last.Type != EventWithdrawn || !last.Time.Equal(t1) {
				t.Errorf("%s: last event %+v", a.OSV.ID, last)
			}
		}
	}
	if withdrawn != 1 {
		t.Fatalf("%d withdrawn records", withdrawn)
	}
}

func TestRangeMatch(t *testing.T) {
	mk := func(events ...osv.Event) *Advisory {
		a := &Advisory{Keel: Keel{Package: "p", CVE: "CVE-1", Status: StatusAffected}}
		a.OSV.ID = "X"
		a.OSV.Affected = []osv.Affected{{Package: osv.Package{Ecosystem: Ecosystem, Name: "p"}, Ranges: []osv.Range{{Type: osv.RangeEcosystem, Events: events}}}}
		return a
	}
	for _, c := range []struct {
		name   string
		a      *Advisory
		evr    string
		status string
	}{
		{"below fix", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "1.2.13-2.kl1"}), "1.2.13-1.kl1", StatusAffected},
		{"at fix", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "1.2.13-2.kl1"}), "1.2.13-2.kl1", StatusFixed},
		{"tilde before", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "2.0-1"}), "2.0~rc1-1", StatusAffected},
		{"caret after", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "2.0-1"}), "2.0^git1-1", StatusFixed},
		{"epoch wins", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "0:9.0-1"}), "1:1.0-1", StatusFixed},
		{"before introduced", mk(osv.Event{Introduced: "1.5-1"}, osv.Event{Fixed: "2.0-1"}), "1.4-1", StatusNotAffected},
		{"last_affected inclusive", mk(osv.Event{Introduced: "0"}, osv.Event{LastAffected: "1.0-1"}), "1.0-1", StatusAffected},
		{"after last_affected", mk(osv.Event{Introduced: "0"}, osv.Event{LastAffected: "1.0-1"}), "1.0-2", StatusNotAffected},
		{"no fix", mk(osv.Event{Introduced: "0"}), "99-1", StatusAffected},
		{"two ranges", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "1.0-5"}, osv.Event{Introduced: "2.0-1"}, osv.Event{Fixed: "2.0-3"}), "2.0-2", StatusAffected},
		{"between ranges", mk(osv.Event{Introduced: "0"}, osv.Event{Fixed: "1.0-5"}, osv.Event{Introduced: "2.0-1"}, osv.Event{Fixed: "2.0-3"}), "1.5-1", StatusFixed},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, _ := c.a.Match(rpm.MustEVR(c.evr))
			if st != c.status {
				t.Fatalf("%s: got %s want %s", c.evr, st, c.status)
			}
		})
	}
}

func TestSLA(t *testing.T) {
	p := DefaultSLA()
	fix := time.Date(2024, 9, 10, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		sev      string
		kev      bool
		now      time.Time
		shipped  time.Time
		state    string
		deadline time.Time
	}{
		{"Critical", false, fix.Add(24 * time.Hour), time.Time{}, SLAOpen, fix.Add(7 * 24 * time.Hour)},
		{"Critical", false, fix.Add(5 * 24 * time.Hour), time.Time{}, SLADueSoon, fix.Add(7 * 24 * time.Hour)},
		{"High", false, fix.Add(15 * 24 * time.Hour), time.Time{}, SLABreach, fix.Add(14 * 24 * time.Hour)},
		{"Medium", false, fix, time.Time{}, SLAOpen, time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)},
		{"Low", false, fix, fix.Add(24 * time.Hour), SLAMet, time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)},
		{"Low", true, fix, fix.Add(8 * 24 * time.Hour), SLALate, fix.Add(7 * 24 * time.Hour)},
		{"Unknown", false, fix, time.Time{}, SLAOpen, time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)},
	} {
		st, dl := p.SLAState(c.sev, c.kev, &fix, c.shipped, c.now)
		if st != c.state || !dl.Equal(c.deadline) {
			t.Errorf("%s kev=%v: got %s %s, want %s %s", c.sev, c.kev, st, dl, c.state, c.deadline)
		}
	}
	if st, _ := p.SLAState("Critical", false, nil, time.Time{}, fix); st != SLANoFix {
		t.Errorf("no fix: %s", st)
	}
	if err := (SLAPolicy{RollupDay: 31}).Validate(); err == nil {
		t.Error("rollup_day 31 accepted")
	}
}

func TestEvidenceFromSpec(t *testing.T) {
	testenv.RequireTool(t, "rpm") // pkg/spec loads the host rpm macros
	dir := t.TempDir()
	spec := `Name: zlib
Version: 1.2.13
Release: 2%{?dist}
Summary: test
License: Zlib
Source0: zlib-%{version}.tar.gz
Patch1: CVE-2023-45853.patch
Patch2: https://example.org/fixes/0002-inflate.patch
%description
x
%prep
%changelog
* Mon Nov 23 2026 Keel <security@keel-linux.io> - 1.2.13-2
- Fix CVE-2022-37434 in inflateGetHeader (Debian patch)
`
	sp := filepath.Join(dir, "zlib.spec")
	os.WriteFile(sp, []byte(spec), 0o644)
	os.WriteFile(filepath.Join(dir, "CVE-2018-25032.nopatch"), []byte("justification: vulnerable_code_not_present\nFixed upstream in 1.2.12; 1.2.13 contains the fix.\n"), 0o644)
	se, err := EvidenceFromSpec(context.Background(), kl1Reader(t), sp)
	if err != nil {
		t.Fatal(err)
	}
	if se.Package != "zlib" || se.EVR != "1.2.13-2.kl1" || len(se.ByCVE) != 3 {
		t.Fatalf("%+v", se)
	}
	st := Store{Root: t.TempDir()}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	ids, err := st.ApplyEvidence(se, now)
	if err != nil || len(ids) != 3 {
		t.Fatalf("%v %v", ids, err)
	}
	again, err := st.ApplyEvidence(se, now.Add(time.Hour))
	if err != nil || len(again) != 0 {
		t.Fatalf("re-applying evidence rewrote %v (%v)", again, err)
	}
	fixed, err := ReadFile(filepath.Join(st.Root, "keel", "zlib", "KEEL-CVE-2023-45853-zlib.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fixed.FixedEVR() != "1.2.13-2.kl1" || fixed.Keel.Status != StatusFixed || fixed.Keel.Evidence[0].Kind != EvidencePatch {
		t.Fatalf("%+v", fixed.Keel)
	}
	na, err := ReadFile(filepath.Join(st.Root, "keel", "zlib", "KEEL-CVE-2018-25032-zlib.json"))
	if err != nil {
		t.Fatal(err)
	}
	if na.Keel.Status != StatusNotAffected || na.Keel.Justification != "vulnerable_code_not_present" {
		t.Fatalf("%+v", na.Keel)
	}
	os.WriteFile(filepath.Join(dir, "CVE-2099-12345.nopatch"), nil, 0o644)
	if _, err := EvidenceFromSpec(context.Background(), kl1Reader(t), sp); err == nil || !strings.Contains(err.Error(), "must say why") {
		t.Fatalf("empty nopatch: %v", err)
	}
}

// sample builds records covering every export path.
func sample() []*Advisory {
	pub := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	mk := func(cve, pkg, status, fixed string) *Advisory {
		a := &Advisory{}
		a.OSV.ID = KeelID(cve, pkg)
		a.OSV.Modified, a.OSV.Published = pub, &pub
		a.OSV.Aliases = []string{cve}
		a.OSV.Summary = cve + " in " + pkg
		a.OSV.References = []osv.Reference{{Type: "ADVISORY", URL: "https://nvd.nist.gov/vuln/detail/" + cve}}
		a.Keel = Keel{Source: "keel", Package: pkg, CVE: cve, Status: status, Severity: "High",
			CVSS: &CVSS{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 9.8}}
		af := osv.Affected{Package: osv.Package{Ecosystem: Ecosystem, Name: pkg}}
		switch {
		case status == StatusNotAffected:
			a.Keel.Justification, a.Keel.Statement = "vulnerable_code_not_present", "minizip is not built"
		case fixed != "":
			af.Ranges = []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}, {Fixed: fixed}}}}
		default:
			af.Ranges = []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}}}}
		}
		a.OSV.Affected = []osv.Affected{af}
		return a
	}
	return []*Advisory{
		mk("CVE-2023-45853", "zlib", StatusNotAffected, ""),
		mk("CVE-2022-48174", "busybox", StatusFixed, "1.35.0-2.kl1"),
		mk("CVE-2023-42366", "busybox", StatusAffected, ""),
	}
}

func exportOpts() ExportOptions {
	return ExportOptions{Publisher: "Keel Linux", Namespace: "https://keel-linux.io", ID: "keel-vex-test", Now: t1, Version: "test",
		Purl: func(pkg, evr string) string {
			if evr == "" {
				return "pkg:rpm/keel/" + pkg + "?distro=keel-1.0"
			}
			return "pkg:rpm/keel/" + pkg + "@" + evr + "?distro=keel-1.0"
		}}
}

// osvKnownDeviation: the OSV schema enumerates ecosystems and id prefixes;
// "Keel Linux" and "KEEL-" are not registered (yet).
func osvKnownDeviation(loc string) bool {
	return strings.HasPrefix(loc, "/id:") || strings.Contains(loc, "/package/ecosystem:")
}

func TestExportsValidateAndRoundTrip(t *testing.T) {
	advs := sample()
	// OSV: every record validates against the official schema except the
	// unregistered ecosystem and id prefix.
	os := osvSchema(t)
	for _, a := range advs {
		v, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := osv.Marshal(v)
		for _, loc := range validate(t, os, b) {
			if !osvKnownDeviation(loc) {
				t.Errorf("%s: %s", a.OSV.ID, loc)
			}
		}
		back, err := osv.Parse("rt", b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(back)
		if err != nil || !Equal(d, a) {
			t.Fatalf("OSV round trip changed %s (%v)", a.OSV.ID, err)
		}
	}
	// CSAF 2.0 VEX: valid against the official schema; importing it back
	// gives the same statuses and fixed EVRs.
	doc := ToCSAF(advs, exportOpts())
	b, err := csaf.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range validate(t, csafSchema(t), b) {
		t.Errorf("CSAF: %s", loc)
	}
	parsed, err := csaf.Parse("rt", b)
	if err != nil {
		t.Fatal(err)
	}
	back, skips := FromCSAF(parsed, Ecosystem)
	if len(skips) != 0 || len(back) != len(advs) {
		t.Fatalf("CSAF round trip: %d records, skips %v", len(back), skips)
	}
	want := map[string]string{}
	for _, a := range advs {
		want[a.Keel.CVE] = a.Keel.Status + "|" + a.FixedEVR()
	}
	for _, a := range back {
		st := a.Keel.Status
		if a.FixedEVR() != "" {
			st = StatusFixed
		}
		if got := st + "|" + a.FixedEVR(); got != want[a.Keel.CVE] {
			t.Errorf("CSAF round trip %s: %s, want %s", a.Keel.CVE, got, want[a.Keel.CVE])
		}
	}
	// OpenVEX.
	vb, err := openvex.Marshal(ToOpenVEX(advs, exportOpts()))
	if err != nil {
		t.Fatal(err)
	}
	vd, err := openvex.Parse("rt", vb)
	if err != nil || len(vd.Statements) != 3 || vd.Statements[0].Status != "fixed" || vd.Statements[2].Status != "not_affected" {
		t.Fatalf("OpenVEX: %v %+v", err, vd)
	}
	// OVAL 5.11: structural check, oscap's schema validation, and import
	// back to the same fixed EVRs.
	od, err := ToOVAL(advs, OVALExport{Namespace: "io.keel-linux", Platform: "Keel Linux 1.0", Timestamp: t1})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := oval.Marshal(od)
	if err != nil {
		t.Fatal(err)
	}
	od2, err := oval.Parse("rt", bytes.NewReader(ob))
	if err != nil {
		t.Fatal(err)
	}
	ov, skips := FromOVAL(od2, OVALImport{IDPrefix: "KEEL", Ecosystem: Ecosystem})
	if len(skips) != 0 || len(ov) != 2 {
		t.Fatalf("OVAL round trip: %d, %v", len(ov), skips)
	}
	for _, a := range ov {
		if w := strings.TrimPrefix(strings.SplitN(want[a.Keel.CVE], "|", 2)[1], ""); a.FixedEVR() != "" && a.FixedEVR() != "0:"+w {
			t.Errorf("OVAL round trip %s fixed %s want %s", a.Keel.CVE, a.FixedEVR(), w)
		}
	}
	if _, err := exec.LookPath("oscap"); err == nil {
		f := filepath.Join(t.TempDir(), "keel.oval.xml")
		writeFile(t, f, ob)
		if out, err := exec.Command("oscap", "oval", "validate", f).CombinedOutput(); err != nil {
			t.Fatalf("oscap oval validate: %v\n%s", err, out)
		}
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := WriteFileAtomic(p, b); err != nil {
		t.Fatal(err)
	}
}

// Keel Linux's own records: all load, pass the model's checks and the OSV
// schema (bar the known deviations), and name real references.
func TestDistroAdvisories(t *testing.T) {
	root := filepath.Join(testenv.RepoRoot(), "distro", "advisories")
	res, err := Store{Root: root}.Load("keel")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Error(e)
	}
	if len(res.Advisories) == 0 {
		t.Fatalf("no records under %s/keel", root)
	}
	s := osvSchema(t)
	for _, a := range res.Advisories {
		b, err := os.ReadFile(filepath.Join(root, "keel", a.Keel.Package, a.OSV.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range validate(t, s, b) {
			if !osvKnownDeviation(loc) {
				t.Errorf("%s: %s", a.OSV.ID, loc)
			}
		}
		if len(a.OSV.References) == 0 {
			t.Errorf("%s: no references (cite the public sources)", a.OSV.ID)
		}
		if len(a.Keel.Events) == 0 {
			t.Errorf("%s: no event log", a.OSV.ID)
		}
	}
	if _, err := ToOVAL(res.Advisories, OVALExport{Namespace: "io.keel-linux", Platform: "Keel Linux 1.0", Timestamp: t1}); err != nil {
		t.Fatal(err)
	}
	if _, err := openvex.Marshal(ToOpenVEX(res.Advisories, exportOpts())); err != nil {
		t.Fatal(err)
	}
	b, _ := csaf.Marshal(ToCSAF(res.Advisories, exportOpts()))
	for _, loc := range validate(t, csafSchema(t), b) {
		t.Errorf("CSAF: %s", loc)
	}
}

func TestNVDEnrichAndWindows(t *testing.T) {
	page := []byte(`{"resultsPerPage":1,"startIndex":0,"totalResults":1,"format":"NVD_CVE","version":"2.0","timestamp":"2024-10-10T00:00:00.000",
	"vulnerabilities":[{"cve":{"id":"CVE-2023-42366","published":"2023-11-27T23:15:07.313","lastModified":"2024-06-01T00:00:00.000","vulnStatus":"Analyzed",
	"cisaExploitAdd":"2024-01-01","descriptions":[{"lang":"en","value":"A heap-buffer-overflow was discovered in BusyBox v.1.36.1 in the next_token function at awk.c:1159."}],
	"metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H","baseScore":5.5,"baseSeverity":"MEDIUM"}}]},
	"weaknesses":[{"source":"nvd@nist.gov","type":"Primary","description":[{"lang":"en","value":"CWE-787"}]}]}}]}`)
	p, err := nvd.Parse("page", page)
	if err != nil {
		t.Fatal(err)
	}
	advs := sample()
	advs[2].Keel.Severity = ""
	advs[2].Keel.CVSS = nil
	ch := Enrich(advs, []nvd.CVE{p.Vulnerabilities[0].CVE}, t1)
	if len(ch) != 1 || !ch[0].Keel.KEV || ch[0].Keel.CVSS.Score != 5.5 || ch[0].Keel.CWE[0] != "CWE-787" || ch[0].EffectiveSeverity() != "Critical" {
		t.Fatalf("%+v", ch)
	}
	if again := Enrich(advs, []nvd.CVE{p.Vulnerabilities[0].CVE}, t1); len(again) != 0 {
		t.Fatal("enrichment is not idempotent")
	}
	if _, err := nvd.WindowURL("https://services.nvd.nist.gov/rest/json/cves/2.0", t0, t0.Add(200*24*time.Hour), 0); err == nil {
		t.Fatal("a 200-day window was accepted")
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"truncated xml", `<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><generator>`, "malformed XML"},
		{"dangling test", `<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><generator><schema_version xmlns="http://oval.mitre.org/XMLSchema/oval-common-5">5.11</schema_version><timestamp xmlns="http://oval.mitre.org/XMLSchema/oval-common-5">x</timestamp></generator><definitions><definition id="oval:x:def:1" version="1" class="vulnerability"><metadata><title>t</title><description>d</description></metadata><criteria><criterion test_ref="oval:x:tst:9"/></criteria></definition></definitions></oval_definitions>`, "does not resolve"},
	} {
		_, err := oval.Parse(c.name, strings.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Unknown ecosystems and range types are skipped and counted, not dropped
	// silently (Go records are read: scan matches them to vendored modules).
	vs, err := osv.ReadAll("x", strings.NewReader(`[{"id":"NPM-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]},
	{"id":"X-2","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-1"],"affected":[{"package":{"ecosystem":"Keel Linux:1.0","name":"p"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]},
	{"id":"X-3","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Red Hat","name":"q"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	advs, skips := FromOSV(vs)
	if len(advs) != 1 || len(skips) != 2 || !strings.Contains(skips[0].Reason, "not an RPM distribution") || !strings.Contains(skips[1].Reason, "SEMVER") {
		t.Fatalf("%d advs, skips %v", len(advs), skips)
	}
	if advs[0].FixedEVR() != "" || advs[0].Keel.Status != StatusAffected {
		t.Fatal("CVE with no fixed version must stay affected with no fix")
	}
	if _, err := osv.Parse("bad", []byte(`{"id":"A","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"E","name":"n"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1"}]}]}]}`)); err == nil {
		t.Error("range without introduced accepted")
	}
	var a Advisory
	a.OSV.ID = "K"
	a.Keel = Keel{Package: "p", CVE: "CVE-1", Status: StatusNotAffected}
	if err := a.Check(); err == nil {
		t.Error("not_affected without a reason accepted")
	}
	a.Keel.Status = "maybe"
	if err := a.Check(); err == nil || !strings.Contains(err.Error(), "expected affected") {
		t.Errorf("bad status: %v", err)
	}
	if _, err := json.Marshal(a.OSV); err != nil {
		t.Fatal(err)
	}
}

func FuzzCollectEvidence(f *testing.F) {
	f.Add([]byte("Name: a\nVersion: 1\nRelease: 1\nPatch1: CVE-2023-1.patch\nPatch: x\n%changelog\n- CVE-2024-2\n"))
	dir := f.TempDir()
	patches := map[int]string{0: "CVE-2024-11111.patch", 1: "CVE-2023-12345.patch"}
	f.Fuzz(func(t *testing.T, b []byte) { collectEvidence(filepath.Join(dir, "x.spec"), "a", "1-1", patches, b) })
}

func FuzzNopatchDecision(f *testing.F) {
	f.Add("justification: vulnerable_code_not_present\nwhy")
	f.Fuzz(func(t *testing.T, s string) { nopatchDecision(s) })
}

// The NVD API is polled by lastModified windows from the stored window end.
func TestNVDPollWindows(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		fmt.Fprint(w, `{"resultsPerPage":1,"startIndex":0,"totalResults":1,"format":"NVD_CVE","version":"2.0","vulnerabilities":[{"cve":{"id":"CVE-2023-42366","lastModified":"2024-06-01T00:00:00.000","metrics":{"cvssMetricV31":[{"type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H","baseScore":5.5}}]}}}]}`)
	}))
	defer srv.Close()
	st := Store{Root: t.TempDir()}
	for _, a := range sample() {
		a.Keel.CVSS, a.Keel.Severity = nil, ""
		if err := st.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := since.Add(200 * 24 * time.Hour)
	rep, err := st.SyncInputs(context.Background(), ImportOptions{Kind: "nvd", NVDAPI: srv.URL, NVDSince: since, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) != 2 || len(rep.Updated) != 1 {
		t.Fatalf("200 days must take two 120-day windows: %v; updated %v", queries, rep.Updated)
	}
	s, _ := st.ReadState("nvd")
	if !s.WindowEnd.Equal(now) {
		t.Fatalf("window end %s", s.WindowEnd)
	}
	queries = nil
	if _, err := st.SyncInputs(context.Background(), ImportOptions{Kind: "nvd", NVDAPI: srv.URL, Now: now.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if len(queries) != 1 || !strings.Contains(queries[0], "lastModStartDate="+strings.ReplaceAll(now.Format("2006-01-02T15:04:05.000Z"), ":", "%3A")) {
		t.Fatalf("second poll must resume at the stored window end: %v", queries)
	}
	a, err := ReadFile(filepath.Join(st.Root, "keel", "busybox", "KEEL-CVE-2023-42366-busybox.json"))
	if err != nil || a.Keel.CVSS == nil || a.Keel.CVSS.Score != 5.5 || a.Keel.Events[len(a.Keel.Events)-1].Type != EventEnriched {
		t.Fatalf("%+v %v", a, err)
	}
}

// kl1Reader reads specs with %dist .kl1, as Keel Linux's tree does.
func kl1Reader(t *testing.T) *spec.Reader {
	t.Helper()
	r, err := spec.NewReader(spec.Options{Defines: []string{"dist .kl1"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
