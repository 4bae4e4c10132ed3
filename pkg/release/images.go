package release

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/assess"
	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/baseline"
	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/sbom"
)

// ImagesDir holds images/<name>/: outputs, manifest.json, baseline.json, SBOMs.
const ImagesDir = "images"

// imageBaselines are per-image baseline reports, for the gate.
type imageBaselines map[string]*baseline.Report

// bootResult is one bootable image's boot test.
type bootResult struct {
	Image   string            `json:"image"`
	Disk    string            `json:"disk"`
	OK      bool              `json:"ok"`
	Reason  string            `json:"reason,omitempty"`
	Seconds float64           `json:"seconds"`
	Facts   map[string]string `json:"facts"`
}

// imagesStage composes every image definition of the tree from the
// release's own signed repository: containers and bootable disks. Each root
// is checked against the baseline and gets SBOMs; each bootable image is
// booted under QEMU (Secure Boot when its UKI is signed) and its facts
// asserted against its manifest.
func imagesStage(ctx context.Context, dir string, m *manifest.Manifest, d *distro.Distro, date time.Time, opt Options) (imageBaselines, []bootResult, error) {
	defs, err := image.List(filepath.Join(d.Dir, "images"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var boots []bootResult
	reports := imageBaselines{}
	pub := d.Publisher()
	po := inventory.PurlOptions{Namespace: pub.PurlNamespace, Distro: pub.PurlDistro}
	logctx.FromContext(ctx).Info("plan", logctx.KindKey, "image", logctx.TotalKey, len(defs))
	for _, def := range defs {
		def := def
		policy := baseline.Policy{SetuidAllowed: def.Setuid} // the host kernel's sysctls rule a container
		if def.Kind == "bootable" {
			policy.Sysctl = baseline.DefaultPolicy().Sysctl
		}
		res, err := image.Build(ctx, image.Options{
			Definition: def, Repos: []string{filepath.Join(dir, manifest.RepoDir)}, Out: filepath.Join(dir, ImagesDir),
			SourceDateEpoch: date.Unix(), Key: opt.Key, SecureBootKey: opt.SecureBootKey, SecureBootCert: opt.SecureBootCert,
			// The cut signed the repository with the distro key: trust exactly it.
			Trusted: opt.Key.Keyring(),
			InspectRoot: func(root, stage string, im *image.Manifest) error {
				rep, err := baseline.Check(root, policy)
				if err != nil {
					return err
				}
				reports[def.Name] = rep
				if err := writeJSON(filepath.Join(stage, "baseline.json"), rep); err != nil {
					return err
				}
				sb, err := sbom.Generate(ctx, sbom.Options{Kind: "image", Inputs: []string{root}, Name: d.Config.Name + "-" + def.Name,
					Version: m.Version, Created: date, Purl: po, Supplier: pub.Name, Tool: "keel-" + m.Keel, Files: true, Namespace: pub.Namespace + "/spdx"})
				if err != nil {
					return fmt.Errorf("SBOM: %w", err)
				}
				if err := os.WriteFile(filepath.Join(stage, "sbom.spdx.json"), sb.SPDX, 0o644); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(stage, "sbom.cdx.json"), sb.CycloneDX, 0o644)
			},
		})
		if err != nil {
			return nil, nil, err
		}
		// The definition, beside the manifest: what services and sysctl
		// values the image starts with (keel assess upgrade reads them).
		if err := atomicfile.Copy(def.Path(), filepath.Join(res.Dir, assess.DefinitionFile)); err != nil {
			return nil, nil, err
		}
		sum := manifest.ImageSummary{Name: def.Name, Format: def.Kind, Size: res.Manifest.Size,
			File: filepath.ToSlash(filepath.Join(ImagesDir, def.Name, "manifest.json"))}
		if def.Kind == "bootable" {
			br, err := bootImage(ctx, dir, res, opt)
			if err != nil {
				return nil, nil, err
			}
			sum.BootSeconds = br.Seconds
			boots = append(boots, br)
		}
		m.Images = append(m.Images, sum)
	}
	return reports, boots, nil
}

// bootImage boots a bootable image's disk and asserts keel-init's facts.
func bootImage(ctx context.Context, dir string, res *image.Result, opt Options) (bootResult, error) {
	man := res.Manifest
	br := bootResult{Image: man.Image, Facts: map[string]string{}}
	if man.Boot == nil {
		return br, fmt.Errorf("image %s: bootable but its manifest has no boot section", man.Image)
	}
	if man.Boot.SecureBoot && opt.SecureBootCert == "" {
		return br, fmt.Errorf("image %s: its UKI is signed, but no Secure Boot certificate to enroll for the boot gate", man.Image)
	}
	plan, err := man.BootPlan(res.Dir, "", opt.SecureBootCert)
	if err != nil {
		return br, err
	}
	br.Disk, _ = filepath.Rel(dir, plan.Disk)
	step := logctx.StartStep(ctx, "boot", man.Image, "booting", "disk", br.Disk, "secure_boot", man.Boot.SecureBoot)
	r, err := plan.Run(ctx, boot.Options{Timeout: 150 * time.Second})
	if err != nil {
		err = fmt.Errorf("booting %s: %w", man.Image, err)
		step.Fail(err)
		return br, err
	}
	br.OK, br.Reason, br.Seconds, br.Facts = r.OK, r.Reason, r.StatusAfter.Seconds(), r.Facts
	if r.OK {
		step.Done("booted", "facts", len(r.Facts))
	} else {
		step.Fail(errors.New(r.Reason))
	}
	if !r.OK {
		_ = os.WriteFile(filepath.Join(dir, manifest.ReportsDir, "boot-"+man.Image+".console"), r.Console, 0o644)
	}
	return br, writeJSON(filepath.Join(dir, manifest.ReportsDir, "boot-"+man.Image+".json"), br)
}

func bootGate(boots []bootResult) manifest.GateResult {
	g := manifest.GateResult{Name: "boot", Status: "pass"}
	if len(boots) == 0 {
		g.Status, g.Summary = "skipped", "no bootable image variants"
		return g
	}
	var parts []string
	for _, b := range boots {
		if b.OK {
			parts = append(parts, fmt.Sprintf("%s booted in %.1fs%s", b.Image, b.Seconds, trustSummary(b.Facts)))
		} else {
			g.Failures = append(g.Failures, fmt.Sprintf("%s: did not boot: %s (console: reports/boot-%s.console)", b.Image, b.Reason, b.Image))
		}
	}
	g.Summary = strings.Join(parts, "; ")
	return g
}

// trustSummary names what the boot's facts prove of a guard's chain of trust
// (the expectations the boot was held to are Manifest.TrustExpect's).
func trustSummary(facts map[string]string) string {
	var t []string
	if v := facts["initrd.verity.signature"]; v != "" {
		t = append(t, "root hash signature checked by: "+v)
	}
	if m := facts["ipe.mode"]; m != "" && m != "absent" {
		t = append(t, "IPE "+m+" ("+facts["ipe.policy"]+")")
	}
	if m := facts["selinux.mode"]; m != "" && m != "disabled" {
		t = append(t, "SELinux "+m+" (policy sha256 "+facts["selinux.policy.sha256"]+")")
	}
	if len(t) == 0 {
		return ""
	}
	return " (" + strings.Join(t, ", ") + ")"
}

func baselineGate(reports imageBaselines, m *manifest.Manifest, boots []bootResult) manifest.GateResult {
	g := manifest.GateResult{Name: "image-baseline", Status: "pass"}
	if len(m.Images) == 0 {
		g.Status, g.Summary = "skipped", "no image variants"
		return g
	}
	setuid := 0
	for _, im := range m.Images {
		rep := reports[im.Name]
		if rep == nil {
			continue
		}
		setuid += len(rep.Setuid)
		for _, f := range rep.Findings {
			g.Failures = append(g.Failures, fmt.Sprintf("%s:%s: %s (%s)", im.Name, f.Path, f.Detail, f.Check))
		}
	}
	// What the booted kernel really has: keel-init's sysctl.KEY facts (read
	// back from /proc/sys) against the same policy as the configuration.
	for _, b := range boots {
		if len(b.Facts) == 0 {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(baseline.DefaultPolicy().Sysctl)) {
			want := baseline.DefaultPolicy().Sysctl[k]
			if got, ok := b.Facts["sysctl."+k]; !ok || got != want {
				g.Failures = append(g.Failures, fmt.Sprintf("%s: booted, /proc/sys says %s=%q (want %s) (sysctl)", b.Image, k, got, want))
			}
		}
	}
	g.Summary = fmt.Sprintf("%d image(s) checked: world-writable files, setuid inventory (%d setuid/setgid files)%s", len(m.Images), setuid, sysctlNote)
	return g
}

// sysctlNote: container images run on the host's kernel, so sysctl values
// are checked for bootable images only.
const sysctlNote = "; sysctl values for bootable images, configured and read back at boot"
