package advisory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/spec"
)

// Evidence kinds.
const (
	EvidencePatch     = "patch"     // PatchNN: CVE-YYYY-NNNN.patch
	EvidenceChangelog = "changelog" // a %changelog line naming the CVE
	EvidenceNoPatch   = "nopatch"   // CVE-YYYY-NNNN.nopatch decision file
)

// Evidence is why Keel says a CVE is fixed or not affected in a package.
type Evidence struct {
	Kind string `json:"kind"`
	File string `json:"file"` // relative to the spec directory
	Line int    `json:"line,omitempty"`
	Text string `json:"text"`
	EVR  string `json:"evr,omitempty"` // the spec's EVR that carries it
}

// SpecEvidence is what one spec says about CVEs.
type SpecEvidence struct {
	Ecosystem string // OSV ecosystem of the records written (EcosystemFor); default Ecosystem
	Package   string
	EVR       string
	ByCVE     map[string][]Evidence
}

var cveRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`CVE-[0-9]{4}-[0-9]{4,}`) }) // compiled on first use, not at keel start-up

// EvidenceFromSpec reads a spec's patches and changelog with r (the
// distribution's reader, distro.SpecReader: its macros and %dist, as the
// build plans from) and the CVE-*.nopatch files beside it.
func EvidenceFromSpec(ctx context.Context, r *spec.Reader, specPath string) (*SpecEvidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := r.ParseFile(specPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", specPath, err)
	}
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	patches := map[int]string{}
	for _, p := range s.Patches {
		f := p.File
		if f == "" {
			f = p.URL
		}
		patches[p.Num] = f
	}
	return collectEvidence(specPath, s.Name, s.EVR(), patches, raw)
}

var patchTagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?i)patch([0-9]*)\s*:`) }) // compiled on first use, not at keel start-up

// collectEvidence attributes CVE evidence to the spec's EVR: patches whose
// file name names a CVE (their line found in the raw spec), %changelog lines
// naming CVEs, and CVE-*.nopatch decision files.
func collectEvidence(specPath, name, evr string, patches map[int]string, raw []byte) (*SpecEvidence, error) {
	if name == "" || evr == "" {
		return nil, fmt.Errorf("%s: Name, Version and Release are required to attribute evidence", specPath)
	}
	if _, err := rpm.ParseEVR(evr); err != nil {
		return nil, fmt.Errorf("%s: %w", specPath, err)
	}
	se := &SpecEvidence{Package: name, EVR: evr, ByCVE: map[string][]Evidence{}}
	base := filepath.Base(specPath)
	add := func(cve string, e Evidence) {
		e.EVR = evr
		se.ByCVE[cve] = append(se.ByCVE[cve], e)
	}
	inChangelog := false
	for i, l := range strings.Split(string(raw), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "%") {
			inChangelog = strings.Fields(t)[0] == "%changelog"
			continue
		}
		if inChangelog {
			for _, c := range uniq(cveRE().FindAllString(t, -1)) {
				add(c, Evidence{Kind: EvidenceChangelog, File: base, Line: i + 1, Text: t})
			}
			continue
		}
		m := patchTagRE().FindStringSubmatch(t)
		if m == nil {
			continue
		}
		num := 0
		if m[1] != "" {
			fmt.Sscan(m[1], &num)
		}
		// Only the patch file's own name counts: its expanded name from
		// pkg/spec, so %{name}-CVE-... style names work too.
		for _, c := range uniq(cveRE().FindAllString(filepath.Base(patches[num]), -1)) {
			add(c, Evidence{Kind: EvidencePatch, File: base, Line: i + 1, Text: t})
		}
	}
	nopatch, err := filepath.Glob(filepath.Join(filepath.Dir(specPath), "CVE-*.nopatch"))
	if err != nil {
		return nil, err
	}
	sort.Strings(nopatch)
	for _, f := range nopatch {
		c := cveRE().FindString(filepath.Base(f))
		if c == "" || filepath.Base(f) != c+".nopatch" {
			return nil, fmt.Errorf("%s: expected a name CVE-YYYY-NNNN.nopatch", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		text := strings.TrimSpace(string(b))
		if text == "" {
			return nil, fmt.Errorf("%s: empty; a .nopatch file must say why (optionally a first line \"justification: <vex justification>\")", f)
		}
		add(c, Evidence{Kind: EvidenceNoPatch, File: filepath.Base(f), Text: text})
	}
	return se, nil
}

// nopatchDecision splits a .nopatch file into a VEX justification and a
// statement. Without a "justification:" line the statement stands alone.
func nopatchDecision(text string) (justification, statement string, err error) {
	first, rest, _ := strings.Cut(text, "\n")
	if k, v, ok := strings.Cut(first, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "justification") {
		j := strings.TrimSpace(v)
		if !Justifications[j] {
			return "", "", fmt.Errorf("justification %q: expected one of %s", j, strings.Join(sortedKeys(Justifications), ", "))
		}
		return j, strings.TrimSpace(rest), nil
	}
	return "", text, nil
}

// ApplyEvidence writes what a spec proves into Keel's own records (source
// "keel"): "fixed by patch in EVR X" or "not affected: reason". Existing
// records keep their history; the change is logged as an event. It returns
// the ids written.
func (s Store) ApplyEvidence(se *SpecEvidence, now time.Time) ([]string, error) {
	cur, err := s.Load("keel")
	if err != nil {
		return nil, err
	}
	byKey := map[string]*Advisory{}
	for _, a := range cur.Advisories {
		byKey[a.Keel.Package+" "+a.Keel.CVE] = a
	}
	cves := make([]string, 0, len(se.ByCVE))
	for c := range se.ByCVE {
		cves = append(cves, c)
	}
	sort.Strings(cves)
	var written []string
	for _, cve := range cves {
		evs := se.ByCVE[cve]
		a := byKey[se.Package+" "+cve]
		if a == nil {
			a = &Advisory{}
			a.OSV.ID = KeelID(cve, se.Package)
			a.OSV.Aliases = []string{cve}
			a.OSV.Published = &now
			a.Keel = Keel{Source: "keel", Package: se.Package, CVE: cve, Status: StatusAffected,
				Events: []Event{{Time: now, Type: EventDetected, Detail: "from spec evidence"}}}
		}
		before := contentHash(a)
		a.Keel.Evidence = mergeEvidence(a.Keel.Evidence, evs)
		noPatch := false
		for _, e := range evs {
			if e.Kind == EvidenceNoPatch {
				noPatch = true
				j, st, err := nopatchDecision(e.Text)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", e.File, err)
				}
				if a.Keel.Status != StatusNotAffected {
					a.Keel.Events = append(a.Keel.Events, Event{Time: now, Type: EventNotAffected, EVR: se.EVR, Detail: st})
				}
				a.Keel.Status, a.Keel.Justification, a.Keel.Statement = StatusNotAffected, j, st
				a.OSV.Affected = []osv.Affected{{Package: osv.Package{Ecosystem: se.ecosystem(), Name: se.Package}}}
			}
		}
		if !noPatch && a.FixedEVR() == "" {
			a.Keel.Status = StatusFixed
			a.Keel.Remediation = RemediationVendorFix
			a.OSV.Affected = []osv.Affected{{
				Package: osv.Package{Ecosystem: se.ecosystem(), Name: se.Package},
				Ranges:  []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}, {Fixed: se.EVR}}}},
			}}
			if a.Keel.FixAvailable == nil {
				a.Keel.FixAvailable = &now
			}
			a.Keel.Events = append(a.Keel.Events, Event{Time: now, Type: EventFixed, EVR: se.EVR, Detail: "fixed by " + evs[0].Kind + " in " + se.EVR})
		}
		if contentHash(a) == before && byKey[se.Package+" "+cve] != nil {
			continue
		}
		a.OSV.Modified = now
		if err := s.Write(a); err != nil {
			return nil, err
		}
		written = append(written, a.OSV.ID)
	}
	return written, nil
}

// KeelID names Keel's own record for a CVE in a package.
func KeelID(cve, pkg string) string { return "KEEL-" + cve + "-" + pkg }

func mergeEvidence(have, add []Evidence) []Evidence {
	seen := map[string]bool{}
	for _, e := range have {
		seen[e.Kind+"|"+e.File+"|"+e.Text] = true
	}
	for _, e := range add {
		k := e.Kind + "|" + e.File + "|" + e.Text
		if !seen[k] {
			seen[k] = true
			have = append(have, e)
		}
	}
	return have
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (se *SpecEvidence) ecosystem() string {
	if se.Ecosystem != "" {
		return se.Ecosystem
	}
	return Ecosystem
}
