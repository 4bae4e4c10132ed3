package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable prints findings for a terminal.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CVE\tPACKAGE\tINSTALLED\tSTATUS\tFIXED IN\tSEVERITY\tSLA\tDEADLINE")
	for _, f := range r.Findings {
		dl := ""
		if !f.Deadline.IsZero() {
			dl = f.Deadline.Format("2006-01-02")
		}
		sev := f.Severity
		if f.KEV {
			sev += " (KEV)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.CVE, f.Package, f.EVR, f.Status, f.FixedEVR, sev, f.SLA, dl)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Counts
	_, err := fmt.Fprintf(w, "\n%d packages: %d affected, %d fixed, %d not affected, %d under investigation, %d unknown; %d withdrawn advisories ignored\n",
		r.Packages, c.Affected, c.Fixed, c.NotAffected, c.Pending, c.Unknown, c.Withdrawn)
	if len(c.SLA) > 0 {
		fmt.Fprintf(w, "SLA (release): %s\n", slaLine(c.SLA))
		pkgs := make([]string, 0, len(r.SLAByPackage))
		for p := range r.SLAByPackage {
			pkgs = append(pkgs, p)
		}
		sort.Strings(pkgs)
		for _, p := range pkgs {
			fmt.Fprintf(w, "SLA %s: %s\n", p, slaLine(r.SLAByPackage[p]))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return err
}

func slaLine(m map[string]int) string {
	var parts []string
	for _, k := range []string{"breached", "due-soon", "open", "no-fix", "met-late", "met"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteJSON prints the report.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteSARIF prints SARIF 2.1.0 for code-scanning dashboards: one rule per
// CVE, one result per affected (or unknown) finding.
func WriteSARIF(w io.Writer, r *Report, toolVersion string) error {
	type msg struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string            `json:"id"`
		ShortDescription msg               `json:"shortDescription"`
		HelpURI          string            `json:"helpUri"`
		Properties       map[string]string `json:"properties,omitempty"`
	}
	type loc struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
		} `json:"physicalLocation"`
	}
	type result struct {
		RuleID    string         `json:"ruleId"`
		Level     string         `json:"level"`
		Message   msg            `json:"message"`
		Locations []loc          `json:"locations"`
		Props     map[string]any `json:"properties,omitempty"`
	}
	var rules []rule
	seen := map[string]bool{}
	var results []result
	for _, f := range r.Findings {
		if f.Status != "affected" && f.Status != "unknown" {
			continue
		}
		if !seen[f.CVE] {
			seen[f.CVE] = true
			rules = append(rules, rule{ID: f.CVE, ShortDescription: msg{f.CVE}, HelpURI: "https://nvd.nist.gov/vuln/detail/" + f.CVE,
				Properties: map[string]string{"security-severity": securitySeverity(f.Severity)}})
		}
		text := fmt.Sprintf("%s %s is %s by %s", f.Package, f.EVR, f.Status, f.CVE)
		if f.FixedEVR != "" {
			text += "; fixed in " + f.FixedEVR
		}
		var l loc
		l.PhysicalLocation.ArtifactLocation.URI = "rpm:" + f.Package
		results = append(results, result{RuleID: f.CVE, Level: sarifLevel(f.Severity), Message: msg{text}, Locations: []loc{l},
			Props: map[string]any{"sla": f.SLA, "advisories": f.Advisories}})
	}
	if rules == nil {
		rules = []rule{}
	}
	if results == nil {
		results = []result{}
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool":    map[string]any{"driver": map[string]any{"name": "keel", "version": toolVersion, "informationUri": "https://github.com/keel-linux/keel", "rules": rules}},
			"results": results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func sarifLevel(sev string) string {
	switch sev {
	case "Critical", "High":
		return "error"
	case "Medium":
		return "warning"
	}
	return "note"
}

// securitySeverity is the numeric score GitHub code scanning sorts by.
func securitySeverity(sev string) string {
	if s, ok := map[string]string{"Critical": "9.5", "High": "8.0", "Medium": "5.5", "Low": "2.0"}[sev]; ok {
		return s
	}
	return "0.0"
}
