package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/sbom"
	"github.com/keel-linux/keel/pkg/scan"
	"github.com/keel-linux/keel/pkg/strictyaml"
)

// Release directories for security data.
const (
	AdvisoriesDir = "advisories" // osv.json, oval.xml, csaf-vex.json, openvex.json
	SBOMDir       = "sbom"       // repo.spdx.json, repo.cdx.json
)

// securityConfig is keel.yaml's `security:` section (docs/security.md).
type securityConfig struct {
	SLA   *advisory.SLAPolicy `yaml:"sla"`
	Store string              `yaml:"store"` // advisory store, relative to the tree (default advisories)
}

func loadSecurity(d *distro.Distro) (advisory.SLAPolicy, string, error) {
	sc := securityConfig{Store: "advisories"}
	if n, ok := d.Config.Extra["security"]; ok {
		if err := strictyaml.DecodeNode(filepath.Join(d.Dir, distro.ConfigFile), &n, "security", &sc); err != nil {
			return advisory.SLAPolicy{}, "", err
		}
	}
	sla := advisory.DefaultSLA()
	if sc.SLA != nil {
		sla = *sc.SLA
		if err := sla.Validate(); err != nil {
			return sla, "", fmt.Errorf("%s/keel.yaml: security.%w", d.Dir, err)
		}
	}
	return sla, filepath.Join(d.Dir, sc.Store), nil
}

// securityStage scans the release's packages against the tree's
// advisories, exports the advisories in every format and writes SBOMs of
// the repository. Findings go into the manifest (CVEs) for the gate and notes.
func securityStage(ctx context.Context, dir string, m *manifest.Manifest, d *distro.Distro, now time.Time) error {
	sla, storeDir, err := loadSecurity(d)
	if err != nil {
		return err
	}
	// No store is no data: the CVE gate must not pass on it.
	if fi, err := os.Stat(storeDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("advisories: no advisory store at %s (security.store in keel.yaml; default advisories/)", storeDir)
	}
	loaded, err := advisory.Store{Root: storeDir}.Load()
	if err != nil {
		return fmt.Errorf("advisories: %w", err)
	}
	if len(loaded.Errors) > 0 {
		return fmt.Errorf("advisories: %w", loaded.Errors[0])
	}
	advs := loaded.Advisories
	var files []string
	for _, p := range m.Packages {
		files = append(files, filepath.Join(dir, p.File))
	}
	log := logctx.FromContext(ctx)
	log.Info("scanning", "packages", len(files), "advisories", len(advs))
	pkgs, err := inventory.ReadRPMs(ctx, files)
	if err != nil {
		return err
	}
	rep, err := scan.Run(ctx, pkgs, scan.Options{Advisories: advs, SLA: sla, Now: now, FailOn: "none", IncludeFixed: true})
	if err != nil {
		return err
	}
	sum := &manifest.CVESummary{Findings: []manifest.CVEFinding{}}
	for _, f := range rep.Findings {
		cf := manifest.CVEFinding{ID: f.CVE, Package: f.Package, Severity: f.Severity, Status: f.Status, SLA: f.SLA, FixedIn: f.FixedEVR}
		if f.KEV {
			cf.Severity += " (KEV)"
		}
		cf.Evidence = evidenceOf(advs, f)
		switch f.Status {
		case "affected", "under_investigation", "unknown":
			sum.Open++
		case "fixed":
			sum.Fixed++
		}
		switch f.SLA {
		case advisory.SLABreach:
			sum.Breached++
		case advisory.SLADueSoon:
			sum.DueSoon++
		}
		sum.Findings = append(sum.Findings, cf)
	}
	sort.Slice(sum.Findings, func(i, j int) bool {
		a, b := sum.Findings[i], sum.Findings[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package < b.Package
	})
	m.CVEs = sum

	// Exports from the one model, reproducible at the release date.
	log.Info("exporting advisories", "formats", "csaf,openvex,osv,oval")
	if err := os.MkdirAll(filepath.Join(dir, AdvisoriesDir), 0o755); err != nil {
		return err
	}
	pub := d.Publisher()
	po := inventory.PurlOptions{Namespace: pub.PurlNamespace, Distro: pub.PurlDistro}
	eo := advisory.ExportOptions{Publisher: pub.Name, Namespace: pub.Namespace, ID: d.Config.Name + "-vex-" + m.Version,
		Now: now, Version: m.Keel, Purl: inventory.PurlFunc(po)}
	ov := advisory.OVALExport{Namespace: pub.OVALNamespace, Platform: pub.Platform, Timestamp: now}
	for _, format := range []string{"csaf", "openvex", "osv", "oval"} {
		data, err := advisory.Export(advs, format, eo, ov)
		if err != nil {
			return fmt.Errorf("exporting advisories as %s: %w", format, err)
		}
		if err := os.WriteFile(filepath.Join(dir, AdvisoriesDir, advisory.Formats[format]), data, 0o644); err != nil {
			return err
		}
	}
	if err := writeJSON(filepath.Join(dir, manifest.ReportsDir, "scan.json"), rep); err != nil {
		return err
	}

	// SBOMs of the repository: every package with purl and digest.
	log.Info("writing the repository SBOMs")
	res, err := sbom.Generate(ctx, sbom.Options{Kind: "repo", Inputs: files, Name: d.Config.Name + "-" + m.Version + "-repo",
		Version: m.Version, Created: now, Purl: po, Supplier: pub.Name, Tool: "keel-" + m.Keel, Namespace: pub.Namespace + "/spdx"})
	if err != nil {
		return fmt.Errorf("SBOM: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, SBOMDir), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SBOMDir, "repo.spdx.json"), res.SPDX, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SBOMDir, "repo.cdx.json"), res.CycloneDX, 0o644)
}

// evidenceOf says how a fixed finding is known to be fixed.
func evidenceOf(advs []*advisory.Advisory, f scan.Finding) string {
	var parts []string
	for _, a := range advs {
		if a.Keel.CVE != f.CVE || a.Keel.Package != f.Source {
			continue
		}
		for _, e := range a.Keel.Evidence {
			s := e.Kind
			if e.File != "" {
				s += " " + e.File
				if e.Line > 0 {
					s += fmt.Sprintf(":%d", e.Line)
				}
			}
			if e.Text != "" {
				s += ": " + e.Text
			}
			parts = append(parts, s)
		}
		if a.Keel.Statement != "" && len(parts) == 0 {
			parts = append(parts, a.Keel.Statement)
		}
	}
	return strings.Join(parts, "; ")
}

// cveGate fails on a Critical or High (or known-exploited) CVE that is
// still affected past its SLA without a recorded VEX decision.
func cveGate(m *manifest.Manifest) manifest.GateResult {
	g := manifest.GateResult{Name: "cve-sla", Status: "pass"}
	if m.CVEs == nil {
		g.Status, g.Summary = "skipped", "no advisory data"
		return g
	}
	for _, f := range m.CVEs.Findings {
		sev := strings.TrimSuffix(f.Severity, " (KEV)")
		kev := sev != f.Severity
		if f.SLA == advisory.SLABreach && f.Status == "affected" && (sev == "Critical" || sev == "High" || kev) {
			g.Failures = append(g.Failures, fmt.Sprintf("%s:%s: %s past its SLA (fixed in %s); ship the fix or record a VEX decision", f.Package, f.ID, f.Severity, f.FixedIn))
		}
	}
	g.Summary = fmt.Sprintf("%d open, %d fixed, %d past SLA, %d due soon", m.CVEs.Open, m.CVEs.Fixed, m.CVEs.Breached, m.CVEs.DueSoon)
	return g
}

// securitySelection picks what an out-of-band security release carries:
// the new builds of source packages that fix a Critical, High or
// known-exploited CVE still open in the previous release, and the previous
// release's exact packages for everything else.
func securitySelection(ctx context.Context, d *distro.Distro, b *build.Result, prev *manifest.Manifest, prevDir string, now time.Time) (rpms, fixes []string, err error) {
	sla, storeDir, err := loadSecurity(d)
	if err != nil {
		return nil, nil, err
	}
	res, err := advisory.Store{Root: storeDir}.Load()
	if err != nil {
		return nil, nil, fmt.Errorf("advisories: %w", err)
	}
	openBefore := map[string]bool{}
	if prev.CVEs != nil {
		for _, f := range prev.CVEs.Findings {
			if f.Status == "affected" {
				openBefore[f.ID+"/"+f.Package] = true
			}
		}
	}
	fixSet := map[string][]string{}
	for _, p := range b.Packages {
		pkgs, err := inventory.ReadRPMs(ctx, p.RPMs)
		if err != nil {
			return nil, nil, err
		}
		rep, err := scan.Run(ctx, pkgs, scan.Options{Advisories: res.Advisories, SLA: sla, Now: now, FailOn: "none", IncludeFixed: true})
		if err != nil {
			return nil, nil, err
		}
		for _, f := range rep.Findings {
			sev := advisory.NormalizeSeverity(f.Severity)
			if f.Status == "fixed" && openBefore[f.CVE+"/"+f.Package] && (sev == "Critical" || sev == "High" || f.KEV) {
				fixSet[p.Name] = append(fixSet[p.Name], f.CVE)
			}
		}
	}
	if len(fixSet) == 0 {
		return nil, nil, fmt.Errorf("--security: no Critical, High or known-exploited CVE open in %s is fixed by this tree; cut a regular release instead", prev.Version)
	}
	for _, p := range b.Packages {
		if _, ok := fixSet[p.Name]; ok {
			fixes = append(fixes, p.Name)
			rpms = append(rpms, p.RPMs...)
		}
	}
	for _, bp := range prev.Packages {
		if _, ok := fixSet[bp.Source]; !ok {
			rpms = append(rpms, filepath.Join(prevDir, bp.File))
		}
	}
	sort.Strings(fixes)
	return rpms, fixes, nil
}
