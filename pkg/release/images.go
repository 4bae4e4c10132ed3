package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keel-linux/keel/pkg/baseline"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/sbom"
	"github.com/keel-linux/keel/pkg/scan"
)

// ImagesDir holds images/<name>/: outputs, manifest.json, baseline.json, SBOMs.
const ImagesDir = "images"

// imageBaselines are per-image baseline reports, for the gate.
type imageBaselines map[string]*baseline.Report

// imagesStage composes every image definition of the tree whose outputs
// Keel can build today (containers) from the release's own signed
// repository, checks each root against the baseline and writes its SBOMs.
func imagesStage(ctx context.Context, dir string, m *Manifest, d *distro.Distro, date time.Time) (imageBaselines, error) {
	defs, err := image.List(filepath.Join(d.Dir, "images"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	reports := imageBaselines{}
	po := scan.PurlOptions{Namespace: d.Config.Name, Distro: d.Config.Name + "-" + d.Config.Version}
	for _, def := range defs {
		if def.Kind != "container" {
			continue // bootable outputs join the cut with the boot pipeline
		}
		def := def
		policy := baseline.Policy{SetuidAllowed: def.Setuid} // the host kernel's sysctls rule a container
		res, err := image.Build(ctx, image.Options{
			Definition: def, Repos: []string{filepath.Join(dir, RepoDir)}, Out: filepath.Join(dir, ImagesDir),
			SourceDateEpoch: date.Unix(),
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
					Version: m.Version, Created: date, Purl: po, Supplier: d.Config.PrettyName, Tool: "keel-" + m.Keel, Files: true})
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
			return nil, err
		}
		m.Images = append(m.Images, ImageSummary{Name: def.Name, Format: def.Kind, Size: res.Manifest.Size,
			File: filepath.ToSlash(filepath.Join(ImagesDir, def.Name, "manifest.json"))})
	}
	return reports, nil
}

func baselineGate(reports imageBaselines, m *Manifest) GateResult {
	g := GateResult{Name: "image-baseline", Status: "pass"}
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
	g.Summary = fmt.Sprintf("%d image(s) checked: world-writable files, setuid inventory (%d setuid/setgid files)%s", len(m.Images), setuid, sysctlNote)
	return g
}

// sysctlNote: container images run on the host's kernel, so sysctl values
// are checked for bootable images only.
const sysctlNote = "; sysctl values apply to bootable images"
