package advisory

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
	"github.com/keel-linux/keel/pkg/rpm"
)

// OVALImport says how to name what an OVAL feed describes.
type OVALImport struct {
	IDPrefix  string // "AZL" for Azure Linux
	Ecosystem string // "Azure Linux:3.0"
}

var ovalDefNum = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`:def:([0-9]+)$`) }) // compiled on first use, not at keel start-up

// FromOVAL converts vulnerability definitions of the shape Azure Linux
// publishes (one CVE, one rpminfo test on a package, evr "less than" the
// fix) into advisories. Other shapes are skipped with a reason, never
// silently dropped.
func FromOVAL(d *oval.Definitions, opt OVALImport) ([]*Advisory, []Skip) {
	ix := d.Index()
	var out []*Advisory
	var skips []Skip
	for _, def := range d.Definitions {
		skip := func(why string) { skips = append(skips, Skip{Ref: def.ID, Reason: why}) }
		if def.Class != "vulnerability" {
			skip("class " + def.Class + " is not vulnerability")
			continue
		}
		cve := ""
		var refs []osv.Reference
		for _, r := range def.Metadata.References {
			if r.Source == "CVE" && cve == "" {
				cve = r.RefID
			}
			if r.RefURL != "" {
				refs = append(refs, osv.Reference{Type: "ADVISORY", URL: r.RefURL})
			}
		}
		if cve == "" {
			skip("no CVE reference")
			continue
		}
		if len(def.Criteria.Criteria) > 0 || len(def.Criteria.Criterions) != 1 || def.Criteria.Negate {
			skip("criteria are not a single rpminfo criterion")
			continue
		}
		t := ix.Tests[def.Criteria.Criterions[0].TestRef]
		obj := ix.Objects[t.Object.ObjectRef]
		fixed := ""
		if t.State != nil {
			st := ix.States[t.State.StateRef]
			if st.EVR == nil || st.EVR.Operation != "less than" || st.Arch != nil {
				skip("state is not a plain evr \"less than\"")
				continue
			}
			if _, err := rpm.ParseEVR(st.EVR.Text); err != nil {
				skip(err.Error())
				continue
			}
			fixed = st.EVR.Text
		}
		m := ovalDefNum().FindStringSubmatch(def.ID)
		if m == nil {
			skip("definition id has no number")
			continue
		}
		a := &Advisory{}
		a.OSV.ID = opt.IDPrefix + "-" + m[1]
		a.OSV.Aliases = []string{cve}
		a.OSV.Summary = def.Metadata.Title
		a.OSV.Details = def.Metadata.Description
		a.OSV.References = refs
		if def.Metadata.AdvisoryDate != "" {
			if pt, err := time.Parse(time.RFC3339, def.Metadata.AdvisoryDate); err == nil {
				a.OSV.Published = &pt
			}
		}
		events := []osv.Event{{Introduced: "0"}}
		a.Keel.Remediation = RemediationNoneAvailable
		if fixed != "" && def.Metadata.Patchable != "false" {
			events = append(events, osv.Event{Fixed: fixed})
			a.Keel.Remediation = RemediationVendorFix
		}
		a.OSV.Affected = []osv.Affected{{
			Package: osv.Package{Ecosystem: opt.Ecosystem, Name: obj.Name},
			Ranges:  []osv.Range{{Type: osv.RangeEcosystem, Events: events}},
		}}
		a.Keel.Package = obj.Name
		a.Keel.CVE = cve
		a.Keel.Severity = NormalizeSeverity(def.Metadata.Severity)
		a.Keel.Status = StatusAffected
		out = append(out, a)
	}
	return out, skips
}

// OVALExport names what ToOVAL writes.
type OVALExport struct {
	Namespace string    // "io.keel-linux" → oval:io.keel-linux:def:N
	Platform  string    // "Keel Linux 1.0"
	Timestamp time.Time // generator timestamp (SOURCE_DATE_EPOCH for reproducible output)
}

// ToOVAL writes one vulnerability definition per affected record: installed
// package older than the fixed EVR, or any installed version when no fix
// exists. not_affected and withdrawn records produce nothing.
func ToOVAL(advs []*Advisory, opt OVALExport) (*oval.Definitions, error) {
	d := &oval.Definitions{Generator: oval.Generator{
		ProductName:   "Keel",
		SchemaVersion: "5.11",
		Timestamp:     opt.Timestamp.UTC().Format("2006-01-02T15:04:05"),
	}}
	sorted := append([]*Advisory(nil), advs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].OSV.ID < sorted[j].OSV.ID })
	objs := map[string]string{}
	n := 0
	for _, a := range sorted {
		if a.OSV.Withdrawn != nil || a.Keel.Status == StatusNotAffected || a.Keel.Status == StatusUnderInvestigation {
			continue
		}
		n++
		id := func(kind string, k int) string { return fmt.Sprintf("oval:%s:%s:%d", opt.Namespace, kind, k) }
		pkg := a.Keel.Package
		objID, ok := objs[pkg]
		if !ok {
			objID = id("obj", len(objs)+1)
			objs[pkg] = objID
			d.Objects = append(d.Objects, oval.RPMInfoObject{ID: objID, Version: 1, Name: pkg})
		}
		fixed := a.FixedEVR()
		title, comment := fmt.Sprintf("%s affecting package %s", a.Keel.CVE, pkg), fmt.Sprintf("Package %s is installed", pkg)
		test := oval.RPMInfoTest{ID: id("tst", n), Version: 1, Check: "at least one", Object: oval.Ref{ObjectRef: objID}}
		desc := a.OSV.Summary
		if fixed != "" {
			title += " for versions less than " + fixed
			comment = fmt.Sprintf("Package %s is earlier than %s", pkg, fixed)
			ste := oval.RPMInfoState{ID: id("ste", n), Version: 1, EVR: &oval.Value{Datatype: "evr_string", Operation: "less than", Text: fullEVR(fixed)}}
			d.States = append(d.States, ste)
			test.State = &oval.Ref{StateRef: ste.ID}
		}
		test.Comment = comment
		d.Tests = append(d.Tests, test)
		if desc == "" {
			desc = title
		}
		refs := []oval.Reference{{RefID: a.Keel.CVE, RefURL: "https://nvd.nist.gov/vuln/detail/" + a.Keel.CVE, Source: "CVE"}}
		def := oval.Definition{
			ID: id("def", n), Version: 1, Class: "vulnerability",
			Metadata: oval.Metadata{
				Title:       title,
				Affected:    oval.Affected{Family: "unix", Platforms: []string{opt.Platform}},
				References:  refs,
				Description: desc,
				Patchable:   strconv.FormatBool(fixed != ""),
				AdvisoryID:  a.OSV.ID,
				Severity:    a.EffectiveSeverity(),
			},
			Criteria: oval.Criteria{Operator: "AND", Criterions: []oval.Criterion{{Comment: comment, TestRef: test.ID}}},
		}
		d.Definitions = append(d.Definitions, def)
	}
	return d, d.Check()
}

// fullEVR adds the explicit epoch OVAL's evr_string needs.
func fullEVR(s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return "0:" + s
}
