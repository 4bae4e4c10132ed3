// Package advisory keeps Keel's vulnerability model: one OSV record per
// (CVE, source package), with Keel's VEX status, severity, SLA clock and an
// event log in database_specific.keel. It imports Azure Linux OVAL, OSV, NVD
// CVE API 2.0 and CSAF VEX into that model, records evidence from specs, and
// exports OSV, OVAL, CSAF VEX and OpenVEX from it.
package advisory

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/rpm"
)

// VEX statuses (the CSAF/OpenVEX vocabulary).
const (
	StatusAffected           = "affected"
	StatusFixed              = "fixed"
	StatusNotAffected        = "not_affected"
	StatusUnderInvestigation = "under_investigation"
	StatusUnknown            = "unknown" // only in findings: conflicting or unusable data
)

// Remediations (CSAF 2.0 remediation categories).
const (
	RemediationVendorFix     = "vendor_fix"
	RemediationNoneAvailable = "none_available"
	RemediationNoFixPlanned  = "no_fix_planned"
)

// Justifications (OpenVEX / CSAF VEX flags) for not_affected.
var Justifications = map[string]bool{
	"component_not_present":                             true,
	"vulnerable_code_not_present":                       true,
	"vulnerable_code_not_in_execute_path":               true,
	"vulnerable_code_cannot_be_controlled_by_adversary": true,
	"inline_mitigations_already_exist":                  true,
}

// Event types in a record's log.
const (
	EventDetected     = "detected"      // first seen by a sync or written by hand
	EventFixAvailable = "fix-available" // a fixed EVR exists: the SLA clock starts
	EventFixed        = "fixed"         // Keel shipped the fix (EVR)
	EventNotAffected  = "not-affected"
	EventNoFixPlanned = "fix-not-planned"
	EventUpdated      = "updated"
	EventWithdrawn    = "withdrawn"
	EventReinstated   = "reinstated"
	EventEnriched     = "enriched" // NVD data merged in
)

// Ecosystem of Keel Linux packages in OSV records. The OSV schema does not
// list it yet (nor the KEEL- id prefix); see docs/security.md.
const Ecosystem = "Keel Linux:1.0"

// Keel is the database_specific.keel block.
type Keel struct {
	Source        string     `json:"source"`  // keel, azurelinux-oval, osv, nvd, csaf
	Package       string     `json:"package"` // source package name
	CVE           string     `json:"cve"`
	Severity      string     `json:"severity,omitempty"` // Critical, High, Medium, Low, Unknown
	CVSS          *CVSS      `json:"cvss,omitempty"`
	CWE           []string   `json:"cwe,omitempty"`
	KEV           bool       `json:"kev,omitempty"` // in CISA's Known Exploited Vulnerabilities catalog
	Status        string     `json:"status"`        // affected | not_affected | under_investigation
	Justification string     `json:"justification,omitempty"`
	Statement     string     `json:"statement,omitempty"` // impact statement or reason
	Remediation   string     `json:"remediation,omitempty"`
	FixAvailable  *time.Time `json:"fix_available,omitempty"` // SLA clock start
	Evidence      []Evidence `json:"evidence,omitempty"`
	Events        []Event    `json:"events,omitempty"`
}

// CVSS is a vector with its base score.
type CVSS struct {
	Version string  `json:"version"` // 3.1, 4.0, 2.0
	Vector  string  `json:"vector"`
	Score   float64 `json:"score,omitempty"`
}

// Event is one line of a record's history.
type Event struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	EVR    string    `json:"evr,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Advisory is an OSV record plus its decoded Keel block.
type Advisory struct {
	OSV  osv.Vulnerability
	Keel Keel
}

// Decode splits the Keel block out of an OSV record. Records from other
// databases (no keel block) get one derived from their fields.
func Decode(v *osv.Vulnerability) (*Advisory, error) {
	a := &Advisory{OSV: *v}
	if len(v.DatabaseSpecific) > 0 {
		var ds struct {
			Keel *Keel `json:"keel"`
		}
		if err := json.Unmarshal(v.DatabaseSpecific, &ds); err != nil {
			return nil, fmt.Errorf("%s: database_specific: %w", v.ID, err)
		}
		if ds.Keel != nil {
			a.Keel = *ds.Keel
		}
	}
	if a.Keel.Package == "" && len(v.Affected) > 0 {
		a.Keel.Package = v.Affected[0].Package.Name
	}
	if a.Keel.CVE == "" {
		a.Keel.CVE = firstCVE(append([]string{v.ID}, v.Aliases...))
	}
	if a.Keel.Status == "" {
		a.Keel.Status = StatusAffected
	}
	if a.Keel.Severity == "" && a.Keel.CVSS == nil {
		for _, s := range v.Severity {
			if strings.HasPrefix(s.Type, "CVSS_") {
				a.Keel.CVSS = &CVSS{Version: cvssVersion(s.Score), Vector: s.Score}
				break
			}
		}
	}
	if err := a.Check(); err != nil {
		return nil, err
	}
	return a, nil
}

// Check validates the model's own invariants.
func (a *Advisory) Check() error {
	k := &a.Keel
	if k.Package == "" {
		return fmt.Errorf("%s: no package (database_specific.keel.package or affected[0].package.name)", a.OSV.ID)
	}
	switch k.Status {
	case StatusAffected, StatusNotAffected, StatusUnderInvestigation:
	case StatusFixed:
		// "fixed" is what a record says when every shipped EVR carries the fix;
		// it still needs the fixed EVR in its range.
		if a.FixedEVR() == "" {
			return fmt.Errorf("%s: status fixed needs a fixed event in affected[].ranges", a.OSV.ID)
		}
	default:
		return fmt.Errorf("%s: database_specific.keel.status %q: expected affected, fixed, not_affected or under_investigation", a.OSV.ID, k.Status)
	}
	if k.Status == StatusNotAffected && !Justifications[k.Justification] && k.Statement == "" {
		return fmt.Errorf("%s: not_affected needs a justification (%s) or a statement", a.OSV.ID, strings.Join(sortedKeys(Justifications), ", "))
	}
	for _, af := range a.OSV.Affected {
		for _, r := range af.Ranges {
			if r.Type != osv.RangeEcosystem {
				continue
			}
			for _, e := range r.Events {
				for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if s == "" || s == "0" {
						continue
					}
					if _, err := rpm.ParseEVR(s); err != nil {
						return fmt.Errorf("%s: affected %s range event: %w", a.OSV.ID, af.Package.Name, err)
					}
				}
			}
		}
	}
	return nil
}

// Encode writes the Keel block back into database_specific.
func (a *Advisory) Encode() (*osv.Vulnerability, error) {
	v := a.OSV
	v.SchemaVersion = osv.SchemaVersion
	b, err := json.Marshal(struct {
		Keel Keel `json:"keel"`
	}{a.Keel})
	if err != nil {
		return nil, err
	}
	v.DatabaseSpecific = b
	return &v, nil
}

// FixedEVR is the first fixed event of the record's ECOSYSTEM ranges for its
// package, "" when none.
func (a *Advisory) FixedEVR() string {
	for _, af := range a.OSV.Affected {
		if af.Package.Name != a.Keel.Package {
			continue
		}
		for _, r := range af.Ranges {
			for _, e := range r.Events {
				if e.Fixed != "" {
					return e.Fixed
				}
			}
		}
	}
	return ""
}

// Match says what the record means for one installed source package EVR:
// affected, fixed, not_affected or under_investigation.
func (a *Advisory) Match(evr rpm.EVR) (status string, fixed string) {
	return match(a, a.Keel.Package, osv.RangeEcosystem, evr, rpm.ParseEVR, rpm.Compare)
}

// GoPackage is the advisory package name of a Go module: the name of its
// bundled() Provides in the RPMs that vendor it.
func GoPackage(module string) string { return "golang(" + module + ")" }

// MatchGo is Match for a Go module vendored in a package, at its Go
// version (v1.2.3): the record's SEMVER ranges (OSV's Go ecosystem).
func (a *Advisory) MatchGo(version string) (status string, fixed string) {
	return match(a, strings.TrimSuffix(strings.TrimPrefix(a.Keel.Package, "golang("), ")"), osv.RangeSemver, version, parseSemver, semver.Compare)
}

// match applies the record's ranges of rangeType (and its version list) for
// the affected package named name to v.
func match[V any](a *Advisory, name, rangeType string, v V, parse func(string) (V, error), compare func(a, b V) int) (status string, fixed string) {
	k := &a.Keel
	if k.Status == StatusNotAffected || k.Status == StatusUnderInvestigation {
		return k.Status, ""
	}
	inAny, past, fixedAt := false, false, ""
	for _, af := range a.OSV.Affected {
		if af.Package.Name != name {
			continue
		}
		for _, r := range af.Ranges {
			if r.Type != rangeType {
				continue
			}
			in, fx, pf := inRangeBy(r.Events, v, parse, compare)
			inAny, past = inAny || in, past || pf
			if fx != "" && fixedAt == "" {
				fixedAt = fx
			}
		}
		for _, s := range af.Versions {
			if e, err := parse(s); err == nil && compare(v, e) == 0 {
				inAny = true
			}
		}
	}
	switch {
	case inAny:
		return StatusAffected, fixedAt
	case past:
		return StatusFixed, fixedAt
	}
	return StatusNotAffected, ""
}

// parseSemver reads an OSV Go version ("1.2.3", as OSV writes them, or "v1.2.3").
func parseSemver(s string) (string, error) {
	v := "v" + strings.TrimPrefix(s, "v")
	if !semver.IsValid(v) {
		return "", fmt.Errorf("%q is not a semantic version", s)
	}
	return v, nil
}

// inRange applies OSV's event semantics: sorted by version, introduced opens,
// fixed/limit close (exclusive), last_affected closes (inclusive). It also
// says whether v is at or past a fixed event (fixed, not merely unaffected).
func inRange(events []osv.Event, v rpm.EVR) (affected bool, fixed string, pastFix bool) {
	return inRangeBy(events, v, rpm.ParseEVR, rpm.Compare)
}

// inRangeBy is inRange over any version scheme.
func inRangeBy[V any](events []osv.Event, v V, parse func(string) (V, error), compare func(a, b V) int) (affected bool, fixed string, pastFix bool) {
	type ev struct {
		evr  V
		zero bool
		kind int // 0 introduced, 1 fixed, 2 last_affected, 3 limit
		raw  string
	}
	var evs []ev
	for _, e := range events {
		var x ev
		switch {
		case e.Introduced != "":
			x = ev{kind: 0, raw: e.Introduced}
		case e.Fixed != "":
			x = ev{kind: 1, raw: e.Fixed}
			if fixed == "" {
				fixed = e.Fixed
			}
		case e.LastAffected != "":
			x = ev{kind: 2, raw: e.LastAffected}
		default:
			x = ev{kind: 3, raw: e.Limit}
		}
		if x.raw == "0" {
			x.zero = true
		} else {
			p, err := parse(x.raw)
			if err != nil {
				continue
			}
			x.evr = p
		}
		evs = append(evs, x)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].zero != evs[j].zero {
			return evs[i].zero
		}
		return compare(evs[i].evr, evs[j].evr) < 0
	})
	for _, e := range evs {
		c := 1
		if !e.zero {
			c = compare(v, e.evr)
		}
		switch e.kind {
		case 0:
			if c >= 0 {
				affected = true
			}
		case 1, 3:
			if c >= 0 {
				affected = false
				pastFix = pastFix || e.kind == 1
			}
		case 2:
			if c > 0 {
				affected = false
			}
		}
	}
	return affected, fixed, pastFix
}

// Rank orders severities for thresholds (Critical highest).
func Rank(sev string) int {
	switch strings.ToLower(sev) {
	case "critical":
		return 4
	case "high", "important":
		return 3
	case "medium", "moderate":
		return 2
	case "low":
		return 1
	}
	return 0
}

// NormalizeSeverity maps the feeds' words to Critical/High/Medium/Low/Unknown.
func NormalizeSeverity(s string) string {
	return [...]string{"Unknown", "Low", "Medium", "High", "Critical"}[Rank(s)]
}

// SeverityFromScore maps a CVSS v3/v4 base score to its qualitative rating.
func SeverityFromScore(score float64) string {
	switch {
	case score >= 9:
		return "Critical"
	case score >= 7:
		return "High"
	case score >= 4:
		return "Medium"
	case score > 0:
		return "Low"
	}
	return "Unknown"
}

// EffectiveSeverity is the severity the SLA and thresholds use: the stated
// one, else the CVSS score's; KEV makes it Critical.
func (a *Advisory) EffectiveSeverity() string {
	if a.Keel.KEV {
		return "Critical"
	}
	if s := NormalizeSeverity(a.Keel.Severity); s != "Unknown" {
		return s
	}
	if a.Keel.CVSS != nil && a.Keel.CVSS.Score > 0 {
		return SeverityFromScore(a.Keel.CVSS.Score)
	}
	return "Unknown"
}

func cvssVersion(vector string) string {
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		return "3.1"
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		return "3.0"
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		return "4.0"
	}
	return "2.0"
}

func firstCVE(ids []string) string {
	for _, s := range ids {
		if strings.HasPrefix(s, "CVE-") {
			return s
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
