package scan

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/rpm"
)

// Options configure a scan.
type Options struct {
	Advisories []*advisory.Advisory
	SLA        advisory.SLAPolicy
	Now        time.Time
	// FailOn is the lowest severity whose affected findings fail the scan
	// (exit code 3); "" = any affected finding, "none" = never.
	FailOn string
	// IncludeFixed lists fixed and not-affected matches too (VEX view).
	IncludeFixed bool
}

// Finding is one CVE in one installed package.
type Finding struct {
	CVE      string `json:"cve"`
	Package  string `json:"package"`        // binary package
	Source   string `json:"source_package"` // what advisories name
	EVR      string `json:"evr"`
	Arch     string `json:"arch,omitempty"`
	Status   string `json:"status"` // affected, fixed, not_affected, under_investigation, unknown
	FixedEVR string `json:"fixed_evr,omitempty"`
	Severity string `json:"severity"`
	KEV      bool   `json:"kev,omitempty"`
	// Module is the vulnerable Go module inside Package ("path@version"),
	// when the advisory is about a module the package vendors.
	Module     string    `json:"module,omitempty"`
	Advisories []string  `json:"advisories"`
	Reason     string    `json:"reason,omitempty"`
	SLA        string    `json:"sla,omitempty"`
	Deadline   time.Time `json:"deadline,omitzero"`
}

// Report is a scan's result.
type Report struct {
	Packages int       `json:"packages"`
	Findings []Finding `json:"findings"`
	Notes    []string  `json:"notes,omitempty"`
	Counts   Counts    `json:"counts"`
	// SLAByPackage counts SLA states per source package; Counts.SLA is the
	// release-wide view.
	SLAByPackage map[string]map[string]int `json:"sla_by_package"`
}

// Counts summarise a report.
type Counts struct {
	Affected    int            `json:"affected"`
	Fixed       int            `json:"fixed"`
	NotAffected int            `json:"not_affected"`
	Unknown     int            `json:"unknown"`
	Pending     int            `json:"under_investigation"`
	BySeverity  map[string]int `json:"by_severity"`
	SLA         map[string]int `json:"sla"`
	Withdrawn   int            `json:"withdrawn_skipped"`
}

// FindingsError fails a CI job when the scan found what FailOn forbids.
type FindingsError struct{ N int }

func (e *FindingsError) Error() string {
	return fmt.Sprintf("%d affected finding(s) at or above the threshold", e.N)
}

// ExitCode is 3 so CI can tell "vulnerable" from "scan broke" (1).
func (e *FindingsError) ExitCode() int { return 3 }

// Index groups advisories by source package for matching.
type Index map[string][]*advisory.Advisory

// NewIndex builds the index; withdrawn records are left out and counted.
func NewIndex(advs []*advisory.Advisory) (Index, int) {
	ix := Index{}
	withdrawn := 0
	for _, a := range advs {
		if a.OSV.Withdrawn != nil {
			withdrawn++
			continue
		}
		ix[a.Keel.Package] = append(ix[a.Keel.Package], a)
	}
	return ix, withdrawn
}

// Run matches packages against the advisories.
func Run(ctx context.Context, pkgs []inventory.Package, opt Options) (*Report, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now().UTC()
	}
	if opt.SLA.RollupDay == 0 {
		opt.SLA = advisory.DefaultSLA()
	}
	ix, withdrawn := NewIndex(opt.Advisories)
	rep := &Report{Packages: len(pkgs)}
	rep.Findings = Match(pkgs, ix, opt)
	rep.Counts = Counts{BySeverity: map[string]int{}, SLA: map[string]int{}, Withdrawn: withdrawn}
	rep.SLAByPackage = map[string]map[string]int{}
	for _, f := range rep.Findings {
		switch f.Status {
		case advisory.StatusAffected:
			rep.Counts.Affected++
			rep.Counts.BySeverity[f.Severity]++
		case advisory.StatusFixed:
			rep.Counts.Fixed++
		case advisory.StatusNotAffected:
			rep.Counts.NotAffected++
		case advisory.StatusUnderInvestigation:
			rep.Counts.Pending++
		default:
			rep.Counts.Unknown++
		}
		if f.SLA != "" {
			rep.Counts.SLA[f.SLA]++
			if rep.SLAByPackage[f.Source] == nil {
				rep.SLAByPackage[f.Source] = map[string]int{}
			}
			rep.SLAByPackage[f.Source][f.SLA]++
		}
	}
	if !opt.IncludeFixed {
		kept := rep.Findings[:0]
		for _, f := range rep.Findings {
			if f.Status == advisory.StatusAffected || f.Status == advisory.StatusUnknown || f.Status == advisory.StatusUnderInvestigation {
				kept = append(kept, f)
			}
		}
		rep.Findings = kept
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := failing(rep.Findings, opt.FailOn); n > 0 {
		return rep, &FindingsError{N: n}
	}
	return rep, nil
}

func failing(fs []Finding, failOn string) int {
	if failOn == "none" {
		return 0
	}
	n := 0
	for _, f := range fs {
		if f.Status != advisory.StatusAffected && f.Status != advisory.StatusUnknown {
			continue
		}
		if failOn == "" || advisory.Rank(f.Severity) >= advisory.Rank(failOn) {
			n++
		}
	}
	return n
}

// view is what one advisory says about one installed package.
type view struct {
	a             *advisory.Advisory
	status, fixed string
}

// Match returns one finding per (CVE, installed package) that any advisory
// covers. When several advisories cover the pair, Keel's own record wins (it
// is our VEX statement); otherwise disagreement yields status "unknown"
// with both views in the reason, never a silent pick.
func Match(pkgs []inventory.Package, ix Index, opt Options) []Finding {
	var out []Finding
	for _, p := range pkgs {
		evr := p.EVR()
		out = append(out, matchOne(p, "", ix[p.SourceName()], func(a *advisory.Advisory) (string, string) { return a.Match(evr) }, opt)...)
		for _, g := range p.GoModules() {
			out = append(out, matchOne(p, g.Path+"@"+g.Version, ix[advisory.GoPackage(g.Path)], func(a *advisory.Advisory) (string, string) { return a.MatchGo(g.Version) }, opt)...)
		}
	}
	return out
}

// matchOne is Match for one package, or one Go module inside it (module
// "path@version"), against the advisories indexed under its name.
func matchOne(p inventory.Package, module string, advs []*advisory.Advisory, match func(*advisory.Advisory) (string, string), opt Options) []Finding {
	var out []Finding
	if len(advs) == 0 {
		return nil
	}
	evr := p.EVR()
	byCVE := map[string][]view{}
	var cves []string
	for _, a := range advs {
		st, fx := match(a)
		if _, ok := byCVE[a.Keel.CVE]; !ok {
			cves = append(cves, a.Keel.CVE)
		}
		byCVE[a.Keel.CVE] = append(byCVE[a.Keel.CVE], view{a, st, fx})
	}
	sort.Strings(cves)
	for _, cve := range cves {
		views := byCVE[cve]
		sort.Slice(views, func(i, j int) bool { return views[i].a.OSV.ID < views[j].a.OSV.ID })
		chosen := views[0]
		var keel *view
		for i := range views {
			if views[i].a.Keel.Source == "keel" {
				keel = &views[i]
			}
		}
		f := Finding{CVE: cve, Package: p.Name, Source: p.SourceName(), EVR: evr.String(), Arch: p.Arch, Module: module}
		for _, v := range views {
			f.Advisories = append(f.Advisories, v.a.OSV.ID)
		}
		switch {
		case keel != nil:
			chosen = *keel
			f.Status = chosen.status
		default:
			f.Status = chosen.status
			for _, v := range views[1:] {
				if v.status != chosen.status {
					f.Status = advisory.StatusUnknown
					var why []string
					for _, w := range views {
						why = append(why, fmt.Sprintf("%s says %s%s", w.a.OSV.ID, w.status, fixedSuffix(w.fixed)))
					}
					f.Reason = "conflicting advisories: " + strings.Join(why, "; ")
					break
				}
			}
		}
		if f.Status == advisory.StatusNotAffected && chosen.status == advisory.StatusNotAffected && chosen.a.Keel.Status != advisory.StatusNotAffected {
			continue // outside every range: not a finding at all
		}
		f.FixedEVR = chosen.fixed
		f.Severity = maxSeverity(views)
		f.KEV = anyKEV(views)
		if f.Status == advisory.StatusNotAffected && f.Reason == "" {
			f.Reason = strings.TrimSpace(chosen.a.Keel.Justification + " " + chosen.a.Keel.Statement)
		}
		if f.Status == advisory.StatusAffected && chosen.fixed == "" {
			f.Reason = "no fixed version known"
		}
		switch f.Status {
		case advisory.StatusAffected, advisory.StatusUnknown:
			f.SLA, f.Deadline = opt.SLA.SLAState(f.Severity, f.KEV, chosen.a.ClockStart(), time.Time{}, opt.Now)
		case advisory.StatusFixed:
			// Met or late: when did the fixing EVR ship (Keel's own log)?
			if shipped := shippedAt(chosen.a); !shipped.IsZero() {
				f.SLA, f.Deadline = opt.SLA.SLAState(f.Severity, f.KEV, chosen.a.ClockStart(), shipped, opt.Now)
			}
		}
		out = append(out, f)
	}
	return out
}

// shippedAt is the time of the record's last "fixed" event.
func shippedAt(a *advisory.Advisory) time.Time {
	var t time.Time
	for _, e := range a.Keel.Events {
		if e.Type == advisory.EventFixed {
			t = e.Time
		}
	}
	return t
}

func fixedSuffix(fx string) string {
	if fx == "" {
		return ""
	}
	return " (fixed in " + fx + ")"
}

func maxSeverity(views []view) string {
	best := "Unknown"
	for _, v := range views {
		if e := v.a.EffectiveSeverity(); advisory.Rank(e) > advisory.Rank(best) {
			best = e
		}
	}
	return best
}

func anyKEV(views []view) bool {
	for _, v := range views {
		if v.a.Keel.KEV {
			return true
		}
	}
	return false
}

// CompareEVR is exposed for the cross-check tests: rpm semantics.
func CompareEVR(a, b string) (int, error) {
	x, err := rpm.ParseEVR(a)
	if err != nil {
		return 0, err
	}
	y, err := rpm.ParseEVR(b)
	if err != nil {
		return 0, err
	}
	return rpm.Compare(x, y), nil
}
