package advisory

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/csaf"
	"github.com/keel-linux/keel/pkg/nvd"
	"github.com/keel-linux/keel/pkg/openvex"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/rpm"
)

// RPMEcosystems are the OSV ecosystems whose versions are rpm EVRs.
var RPMEcosystems = map[string]bool{"Keel Linux": true, "Azure Linux": true, "Red Hat": true, "AlmaLinux": true,
	"Rocky Linux": true, "openSUSE": true, "SUSE": true, "Mageia": true, "openEuler": true}

// GoEcosystem is OSV's ecosystem of Go modules: records for modules that
// Keel packages vendor (their bundled(golang(...)) Provides).
const GoEcosystem = "Go"

// goRangeProblem says why a Go record's range cannot be matched ("" if it can).
func goRangeProblem(r osv.Range) string {
	if r.Type != osv.RangeSemver {
		return "Go range type " + r.Type + ": want SEMVER"
	}
	for _, e := range r.Events {
		for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
			if s != "" && s != "0" {
				if _, err := parseSemver(s); err != nil {
					return err.Error()
				}
			}
		}
	}
	return ""
}

// FromOSV splits OSV records into one advisory per affected package; a
// record with several packages gets ids <id>-<package>. Records with no
// package or a non-rpm ecosystem range they cannot read are skipped.
func FromOSV(vs []*osv.Vulnerability) ([]*Advisory, []Skip) {
	var out []*Advisory
	var skips []Skip
	for _, v := range vs {
		if len(v.Affected) == 0 {
			skips = append(skips, Skip{Ref: v.ID, Reason: "no affected packages"})
			continue
		}
		for _, af := range v.Affected {
			bad := ""
			goMod := af.Package.Ecosystem == GoEcosystem
			if eco, _, _ := strings.Cut(af.Package.Ecosystem, ":"); !RPMEcosystems[eco] && !goMod {
				skips = append(skips, Skip{Ref: v.ID + " " + af.Package.Name, Reason: fmt.Sprintf("ecosystem %q is not an RPM distribution; its versions cannot be compared with rpm's", af.Package.Ecosystem)})
				continue
			}
			for _, r := range af.Ranges {
				if goMod {
					bad = goRangeProblem(r)
					continue
				}
				if r.Type != osv.RangeEcosystem {
					bad = "range type " + r.Type + " cannot be compared with rpm versions"
					continue
				}
				for _, e := range r.Events {
					for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
						if s != "" && s != "0" {
							if _, err := rpm.ParseEVR(s); err != nil {
								bad = err.Error()
							}
						}
					}
				}
			}
			if bad != "" {
				skips = append(skips, Skip{Ref: v.ID + " " + af.Package.Name, Reason: bad})
				continue
			}
			a, err := Decode(v)
			if err != nil {
				skips = append(skips, Skip{Ref: v.ID, Reason: err.Error()})
				continue
			}
			a.OSV.Affected = []osv.Affected{af}
			a.Keel.Package = af.Package.Name
			if goMod {
				a.Keel.Package = GoPackage(af.Package.Name)
			}
			if len(v.Affected) > 1 {
				a.OSV.ID = v.ID + "-" + af.Package.Name
			}
			if a.Keel.Severity == "" && a.Keel.CVSS == nil {
				a.Keel.Severity = "Unknown"
			}
			if a.FixedEVR() != "" {
				a.Keel.Remediation = RemediationVendorFix
			}
			out = append(out, a)
		}
	}
	return out, skips
}

// Enrich merges NVD data (CVSS vector and score, CWE, KEV, description)
// into every record naming the same CVE. It returns the ids it changed.
func Enrich(advs []*Advisory, cves []nvd.CVE, now time.Time) []*Advisory {
	by := map[string]*nvd.CVE{}
	for i := range cves {
		by[cves[i].ID] = &cves[i]
	}
	var changed []*Advisory
	for _, a := range advs {
		c := by[a.Keel.CVE]
		if c == nil {
			continue
		}
		before := contentHash(a) + fmt.Sprint(a.Keel.KEV)
		if d := c.BestCVSS(); d != nil {
			a.Keel.CVSS = &CVSS{Version: d.Version, Vector: d.VectorString, Score: d.BaseScore}
			if NormalizeSeverity(a.Keel.Severity) == "Unknown" {
				a.Keel.Severity = SeverityFromScore(d.BaseScore)
			}
			typ := "CVSS_V3"
			switch {
			case strings.HasPrefix(d.Version, "4"):
				typ = "CVSS_V4"
			case strings.HasPrefix(d.Version, "2"):
				typ = "CVSS_V2"
			}
			a.OSV.Severity = []osv.Severity{{Type: typ, Score: d.VectorString}}
		}
		a.Keel.CWE = c.CWEs()
		a.Keel.KEV = c.KEV()
		if a.OSV.Details == "" {
			a.OSV.Details = c.Description()
		}
		if before == contentHash(a)+fmt.Sprint(a.Keel.KEV) {
			continue
		}
		a.OSV.Modified = now
		a.Keel.Events = append(a.Keel.Events, Event{Time: now, Type: EventEnriched, Detail: "NVD lastModified " + c.LastModified})
		changed = append(changed, a)
	}
	return changed
}

// FromCSAF reads a CSAF VEX document: products are matched to packages by
// their purl (pkg:rpm/...) and versions; fixed products give fixed events,
// known_not_affected gives not_affected with the flag's justification.
func FromCSAF(d *csaf.Document, ecosystem string) ([]*Advisory, []Skip) {
	prods := d.Products()
	type pv struct{ name, evr string }
	resolve := func(id string) (pv, bool) {
		p, ok := prods[id]
		if !ok || p.Helper == nil || !strings.HasPrefix(p.Helper.PURL, "pkg:rpm/") {
			return pv{}, false
		}
		rest := strings.TrimPrefix(p.Helper.PURL, "pkg:rpm/")
		rest, _, _ = strings.Cut(rest, "?")
		name, ver, _ := strings.Cut(rest[strings.LastIndexByte(rest, '/')+1:], "@")
		return pv{name, ver}, name != ""
	}
	var out []*Advisory
	var skips []Skip
	for _, v := range d.Vulnerabilities {
		if v.CVE == "" || v.ProductStatus == nil {
			skips = append(skips, Skip{Ref: d.Document.Tracking.ID, Reason: "vulnerability without cve or product_status"})
			continue
		}
		byPkg := map[string]*Advisory{}
		get := func(name string) *Advisory {
			if a := byPkg[name]; a != nil {
				return a
			}
			a := &Advisory{}
			a.OSV.ID = "CSAF-" + v.CVE + "-" + name
			a.OSV.Aliases = []string{v.CVE}
			a.Keel = Keel{Package: name, CVE: v.CVE, Status: StatusAffected, Remediation: RemediationNoneAvailable}
			a.OSV.Affected = []osv.Affected{{Package: osv.Package{Ecosystem: ecosystem, Name: name}}}
			for _, s := range v.Scores {
				if s.CVSSV3 != nil {
					a.Keel.CVSS = &CVSS{Version: s.CVSSV3.Version, Vector: s.CVSSV3.VectorString, Score: s.CVSSV3.BaseScore}
					a.Keel.Severity = NormalizeSeverity(s.CVSSV3.BaseSeverity)
				}
			}
			byPkg[name] = a
			return a
		}
		for _, id := range v.ProductStatus.Fixed {
			p, ok := resolve(id)
			if !ok || p.evr == "" {
				skips = append(skips, Skip{Ref: v.CVE + " " + id, Reason: "fixed product without an rpm purl and version"})
				continue
			}
			a := get(p.name)
			a.OSV.Affected[0].Ranges = []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}, {Fixed: p.evr}}}}
			a.Keel.Remediation = RemediationVendorFix
		}
		for _, id := range v.ProductStatus.KnownAffected {
			p, ok := resolve(id)
			if !ok {
				skips = append(skips, Skip{Ref: v.CVE + " " + id, Reason: "product without an rpm purl"})
				continue
			}
			a := get(p.name)
			if len(a.OSV.Affected[0].Ranges) == 0 {
				a.OSV.Affected[0].Ranges = []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}}}}
			}
		}
		for _, id := range v.ProductStatus.KnownNotAffected {
			p, ok := resolve(id)
			if !ok {
				skips = append(skips, Skip{Ref: v.CVE + " " + id, Reason: "product without an rpm purl"})
				continue
			}
			a := get(p.name)
			a.Keel.Status = StatusNotAffected
			a.Keel.Remediation = ""
			for _, f := range v.Flags {
				for _, fid := range f.ProductIDs {
					if fid == id {
						a.Keel.Justification = f.Label
					}
				}
			}
			for _, t := range v.Threats {
				if t.Category == "impact" {
					a.Keel.Statement = t.Details
				}
			}
		}
		names := make([]string, 0, len(byPkg))
		for n := range byPkg {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, byPkg[n])
		}
	}
	return out, skips
}

// ExportOptions name the publisher of exported documents.
type ExportOptions struct {
	Publisher string // "Keel Linux"
	Namespace string // "https://keel-linux.io"
	ID        string // document id
	Now       time.Time
	Purl      func(pkg, evr string) string // purl of a package at an EVR ("" evr: the package)
	Version   string                       // tool version
}

// ToCSAF writes one CSAF 2.0 VEX document for the records: per package a
// product for the fixed EVR (fixed), a version range below it
// (known_affected), or the package itself (known_not_affected with the
// justification as a flag).
func ToCSAF(advs []*Advisory, o ExportOptions) *csaf.Document {
	ts := o.Now.UTC().Format(time.RFC3339)
	d := &csaf.Document{Document: csaf.Meta{
		Category: "csaf_vex", CSAFVersion: "2.0", Title: o.Publisher + " VEX", Lang: "en",
		Publisher: csaf.Publisher{Category: "vendor", Name: o.Publisher, Namespace: o.Namespace},
		Tracking: csaf.Tracking{ID: o.ID, Status: "final", Version: "1", InitialReleaseDate: ts, CurrentReleaseDate: ts,
			RevisionHistory: []csaf.Revision{{Date: ts, Number: "1", Summary: "Generated by keel"}}},
	}}
	d.Document.Tracking.Generator = &csaf.Generator{}
	d.Document.Tracking.Generator.Engine.Name = "keel"
	d.Document.Tracking.Generator.Engine.Version = o.Version
	products := map[string]map[string]csaf.Product{} // package → product id → product
	add := func(pkg, id, name, category, purl string) {
		if products[pkg] == nil {
			products[pkg] = map[string]csaf.Product{}
		}
		p := csaf.Product{Name: name, ProductID: id}
		if purl != "" {
			p.Helper = &csaf.IdentifyHelper{PURL: purl}
		}
		_ = category
		products[pkg][id] = p
	}
	sorted := append([]*Advisory(nil), advs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].OSV.ID < sorted[j].OSV.ID })
	byCVE := map[string]*csaf.Vulnerability{}
	var order []string
	for _, a := range sorted {
		if a.OSV.Withdrawn != nil {
			continue
		}
		v := byCVE[a.Keel.CVE]
		if v == nil {
			v = &csaf.Vulnerability{CVE: a.Keel.CVE, ProductStatus: &csaf.ProductStatus{}}
			byCVE[a.Keel.CVE] = v
			order = append(order, a.Keel.CVE)
		}
		pkg := a.Keel.Package
		var ids []string
		switch {
		case a.Keel.Status == StatusNotAffected:
			id := pkg
			add(pkg, id, pkg, "product_name", o.Purl(pkg, ""))
			v.ProductStatus.KnownNotAffected = append(v.ProductStatus.KnownNotAffected, id)
			if a.Keel.Justification != "" {
				v.Flags = append(v.Flags, csaf.Flag{Label: a.Keel.Justification, ProductIDs: []string{id}})
			}
			v.Threats = append(v.Threats, csaf.Threat{Category: "impact", Details: orDefault(a.Keel.Statement, a.Keel.Justification), ProductIDs: []string{id}})
			ids = []string{id}
		case a.Keel.Status == StatusUnderInvestigation:
			id := pkg
			add(pkg, id, pkg, "product_name", o.Purl(pkg, ""))
			v.ProductStatus.UnderInvestigation = append(v.ProductStatus.UnderInvestigation, id)
			ids = []string{id}
		default:
			fx := a.FixedEVR()
			vuln := pkg + "-vulnerable"
			if fx != "" {
				fid := pkg + "-" + fx
				add(pkg, fid, pkg+" "+fx, "product_version", o.Purl(pkg, fx))
				v.ProductStatus.Fixed = append(v.ProductStatus.Fixed, fid)
				add(pkg, vuln, pkg+" <"+fx, "product_version_range", "")
				v.Remediations = append(v.Remediations, csaf.Remediation{Category: "vendor_fix", Details: "Update " + pkg + " to " + fx + " or later.", ProductIDs: []string{vuln}})
			} else {
				add(pkg, vuln, pkg, "product_name", o.Purl(pkg, ""))
				cat := orDefault(a.Keel.Remediation, RemediationNoneAvailable)
				if cat == RemediationVendorFix {
					cat = RemediationNoneAvailable
				}
				v.Remediations = append(v.Remediations, csaf.Remediation{Category: cat, Details: orDefault(a.Keel.Statement, "No fixed version yet."), ProductIDs: []string{vuln}})
			}
			v.ProductStatus.KnownAffected = append(v.ProductStatus.KnownAffected, vuln)
			ids = []string{vuln}
		}
		if c := a.Keel.CVSS; c != nil && strings.HasPrefix(c.Version, "3") && c.Score > 0 {
			v.Scores = append(v.Scores, csaf.Score{Products: ids, CVSSV3: &csaf.CVSSV3{Version: c.Version, VectorString: c.Vector, BaseScore: c.Score, BaseSeverity: strings.ToUpper(SeverityFromScore(c.Score))}})
		}
		for _, r := range a.OSV.References {
			v.References = append(v.References, csaf.Reference{Category: "external", Summary: r.Type, URL: r.URL})
		}
		if a.OSV.Summary != "" && len(v.Notes) == 0 {
			v.Notes = []csaf.Note{{Category: "summary", Text: a.OSV.Summary}}
		}
	}
	vendor := csaf.Branch{Category: "vendor", Name: o.Publisher}
	pkgs := make([]string, 0, len(products))
	for p := range products {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		b := csaf.Branch{Category: "product_name", Name: p}
		ids := make([]string, 0, len(products[p]))
		for id := range products[p] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			pr := products[p][id]
			cat, name := "product_version", strings.TrimPrefix(pr.Name, p+" ")
			switch {
			case strings.HasPrefix(name, "<"):
				cat, name = "product_version_range", "vers:rpm/"+name
			case id == p || name == p:
				cat, name = "product_version_range", "vers:rpm/*"
			}
			b.Branches = append(b.Branches, csaf.Branch{Category: cat, Name: name, Product: &pr})
		}
		vendor.Branches = append(vendor.Branches, b)
	}
	d.ProductTree = &csaf.ProductTree{Branches: []csaf.Branch{vendor}}
	for _, c := range order {
		d.Vulnerabilities = append(d.Vulnerabilities, *byCVE[c])
	}
	return d
}

// ToOpenVEX writes one statement per record.
func ToOpenVEX(advs []*Advisory, o ExportOptions) *openvex.Document {
	d := &openvex.Document{Context: openvex.Context, ID: o.Namespace + "/vex/" + o.ID, Author: o.Publisher, Role: "vendor",
		Timestamp: o.Now.UTC(), Version: 1, Tooling: "keel " + o.Version}
	sorted := append([]*Advisory(nil), advs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].OSV.ID < sorted[j].OSV.ID })
	for _, a := range sorted {
		if a.OSV.Withdrawn != nil {
			continue
		}
		st := openvex.Statement{Vulnerability: openvex.Vulnerability{Name: a.Keel.CVE}}
		fx := a.FixedEVR()
		switch {
		case a.Keel.Status == StatusNotAffected:
			st.Status, st.Justification, st.ImpactStatement = "not_affected", a.Keel.Justification, a.Keel.Statement
			st.Products = []openvex.Product{{ID: o.Purl(a.Keel.Package, "")}}
		case a.Keel.Status == StatusUnderInvestigation:
			st.Status = "under_investigation"
			st.Products = []openvex.Product{{ID: o.Purl(a.Keel.Package, "")}}
		case fx != "":
			st.Status = "fixed"
			st.Products = []openvex.Product{{ID: o.Purl(a.Keel.Package, fx)}}
		default:
			st.Status = "affected"
			st.ActionStatement = orDefault(a.Keel.Statement, "No fixed version yet; Keel tracks it under its patch SLA.")
			st.Products = []openvex.Product{{ID: o.Purl(a.Keel.Package, "")}}
		}
		d.Statements = append(d.Statements, st)
	}
	return d
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
