package release

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/source"
)

// readKernels finds kernel packages (those shipping
// /usr/lib/modules/<uname -r>/config), copies each config into the release
// and checks it against Keel's policy (gating) and the reference policies
// (reported).
func readKernels(m *manifest.Manifest, ctx context.Context, dir string, d *distro.Distro, rc *Config) error {
	var policy *kconfig.Policy
	if rc.KernelPolicy != "" {
		p := filepath.Join(d.Dir, rc.KernelPolicy)
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("kernel policy: %w", err)
		}
		if policy, err = kconfig.ParseKeelPolicy(data, p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, manifest.KernelsDir), 0o755); err != nil {
		return err
	}
	for _, bp := range m.Packages {
		file := bp.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		pkg, err := rpm.Open(file)
		if err != nil {
			return err
		}
		paths, err := pkg.Header.FilePaths()
		if err != nil {
			return fmt.Errorf("%s: %w", bp.File, err)
		}
		var cfgPath, kver string
		for _, p := range paths {
			if strings.HasPrefix(p, "/usr/lib/modules/") && strings.HasSuffix(p, "/config") && strings.Count(p, "/") == 5 {
				cfgPath, kver = p, strings.Split(p, "/")[4]
			}
		}
		if cfgPath == "" {
			continue
		}
		tmp, err := os.MkdirTemp("", "keel-kernel-")
		if err != nil {
			return err
		}
		err = rpm.ExtractPackage(ctx, pkg, tmp, rpm.ExtractPolicy{})
		data, rerr := os.ReadFile(filepath.Join(tmp, cfgPath))
		os.RemoveAll(tmp)
		if err != nil {
			return fmt.Errorf("%s: %w", bp.File, err)
		}
		if rerr != nil {
			return rerr
		}
		cfg, err := kconfig.Parse(strings.NewReader(string(data)), bp.Name+":"+cfgPath)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(filepath.Join(manifest.KernelsDir, bp.Name+".config"))
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			return err
		}
		k := manifest.Kernel{Package: bp.Name, EVR: bp.EVR(), Release: kver, Config: rel, Policy: map[string]string{}, Parsed: cfg}
		report := map[string][]kconfig.Finding{}
		if policy != nil {
			fs := kconfig.Check(cfg, policy, d.Config.Arch)
			k.Policy[policy.Name] = verdict(fs)
			k.Gating = policy.Name
			report[policy.Name] = fs
		}
		for _, ref := range rc.References {
			p := ref.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.Dir, p)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				k.Policy[ref.Name] = "unavailable: " + err.Error()
				continue
			}
			var rp *kconfig.Policy
			if ref.Format == "azurelinux" {
				flavour := ref.Flavours[bp.Name]
				if flavour == "" {
					flavour = "default"
				}
				rp, err = kconfig.ParseAzureLinuxPolicy(data, p, flavour)
			} else {
				rp, err = kconfig.ParseKeelPolicy(data, p)
			}
			if err != nil {
				return err
			}
			fs := kconfig.Check(cfg, rp, d.Config.Arch)
			k.Policy[ref.Name] = verdict(fs)
			report[ref.Name] = fs
		}
		_ = os.MkdirAll(filepath.Join(dir, manifest.ReportsDir), 0o755)
		if err := writeJSON(filepath.Join(dir, manifest.ReportsDir, "kernel-policy-"+bp.Name+".json"), report); err != nil {
			return err
		}
		m.Kernels = append(m.Kernels, k)
	}
	return nil
}

func verdict(fs []kconfig.Finding) string {
	s := kconfig.Summary(fs)
	if s[kconfig.StatusMissing]+s[kconfig.StatusMismatch] == 0 {
		return fmt.Sprintf("pass (%d options)", s[kconfig.StatusPass])
	}
	return fmt.Sprintf("%d pass, %d missing, %d mismatched", s[kconfig.StatusPass], s[kconfig.StatusMissing], s[kconfig.StatusMismatch])
}

// runGates evaluates every gate. Gates whose inputs do not exist yet in
// this tree (images, advisories) say "skipped" and why.
func runGates(b *build.Result, m *manifest.Manifest, rc *Config, images imageBaselines, boots []bootResult) []manifest.GateResult {
	gates := []manifest.GateResult{hardeningGate(b), kernelGate(m)}
	gates = append(gates,
		baselineGate(images, m, boots),
		cveGate(m),
		bootGate(boots),
	)
	for i := range gates {
		applyExceptions(&gates[i], rc.Exceptions)
	}
	return gates
}

func hardeningGate(b *build.Result) manifest.GateResult {
	g := manifest.GateResult{Name: "hardening", Status: "pass"}
	checked, imported := 0, 0
	for _, p := range b.Packages {
		var rep build.HardeningReport
		data, err := os.ReadFile(p.Hardening)
		if err == nil {
			err = json.Unmarshal(data, &rep)
		}
		if err != nil {
			g.Failures = append(g.Failures, fmt.Sprintf("%s: no hardening report (%v)", p.Name, err))
			continue
		}
		checked += len(rep.Files)
		if rep.Type == source.TypeImported {
			imported += len(rep.Failures)
			continue
		}
		g.Failures = append(g.Failures, rep.Failures...)
		g.Exceptions = append(g.Exceptions, rep.Exempted...)
	}
	g.Summary = fmt.Sprintf("%d ELF objects checked; %d findings on imported binaries (reported, not gating); %d written exemptions", checked, imported, len(g.Exceptions))
	return g
}

func kernelGate(m *manifest.Manifest) manifest.GateResult {
	g := manifest.GateResult{Name: "kernel-policy", Status: "pass"}
	var parts []string
	for _, k := range m.Kernels {
		var names []string
		for n := range k.Policy {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s vs %s: %s", k.Package, n, k.Policy[n]))
		}
	}
	if len(m.Kernels) == 0 {
		g.Status, g.Summary = "skipped", "no kernel packages"
		return g
	}
	// Only Keel's own policy gates; its name is the first listed.
	for _, k := range m.Kernels {
		for _, f := range kconfigFailures(k) {
			g.Failures = append(g.Failures, f)
		}
	}
	g.Summary = strings.Join(parts, "; ")
	return g
}

// kconfigFailures are the gating policy's failures (release.kernel_policy;
// in manifests older than gating_policy, the policy named keel*).
func kconfigFailures(k manifest.Kernel) []string {
	var out []string
	for name, v := range k.Policy {
		gates := name == k.Gating || k.Gating == "" && strings.HasPrefix(name, "keel")
		if gates && !strings.HasPrefix(v, "pass") {
			out = append(out, fmt.Sprintf("%s: %s: %s (see reports/kernel-policy-%s.json)", k.Package, name, v, k.Package))
		}
	}
	return out
}

func applyExceptions(g *manifest.GateResult, ex []Exception) {
	var kept []string
	for _, f := range g.Failures {
		waived := false
		for _, e := range ex {
			if e.Gate == g.Name && strings.HasPrefix(f, e.Item) {
				g.Exceptions = append(g.Exceptions, f+" (exception: "+e.Reason+")")
				waived = true
				break
			}
		}
		if !waived {
			kept = append(kept, f)
		}
	}
	g.Failures = kept
	switch {
	case g.Status == "skipped":
	case len(g.Failures) > 0:
		g.Status = "fail"
	case len(g.Exceptions) > 0:
		g.Status = "waived"
	}
}

func gateSummary(gs []manifest.GateResult) string {
	var parts []string
	for _, g := range gs {
		parts = append(parts, g.Name+"="+g.Status)
	}
	return strings.Join(parts, " ")
}

// failedGates renders the failing gates as one readable report ("" if none).
func failedGates(gs []manifest.GateResult) string {
	var b strings.Builder
	for _, g := range gs {
		if g.Status != "fail" {
			continue
		}
		fmt.Fprintf(&b, "  %s: %s\n", g.Name, g.Summary)
		for _, f := range g.Failures {
			fmt.Fprintf(&b, "    - %s\n", f)
		}
	}
	if b.Len() > 0 {
		b.WriteString("  Fix them, or record an exception with a written reason under release.exceptions in keel.yaml.\n")
	}
	return b.String()
}
