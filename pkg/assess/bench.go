package assess

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// BenchOptions for Bench.
type BenchOptions struct {
	From, To string // release directories
	Image    string // the image variant of both (images/<name>/)
	// Rounds of boots, alternating From and To in each (a bootable image);
	// 0 measures sizes only.
	Rounds int
	// Cert is the Secure Boot certificate enrolled for signed UKIs.
	Cert    string
	Timeout time.Duration // per boot (default 150 s)
}

// BenchSide is one release's image measured.
type BenchSide struct {
	Release  string    `json:"release"`
	Manifest string    `json:"manifest"`
	Packages int       `json:"packages"`
	RootSize int64     `json:"root_size"` // bytes of regular files in the root
	DiskSize int64     `json:"disk_size"` // bytes of the largest disk/archive output
	Boots    []float64 `json:"boot_seconds,omitempty"`
	BootMin  float64   `json:"boot_min_seconds,omitempty"`
}

// BenchReport is both sides and their ratios (To / From).
type BenchReport struct {
	Image  string             `json:"image"`
	From   BenchSide          `json:"from"`
	To     BenchSide          `json:"to"`
	Ratios map[string]float64 `json:"ratios"`
}

// Bench measures the same image of two releases side by side: sizes and
// package counts from their manifests, then (bootable images) boot time to
// keel-init's status line, the two booted in alternating rounds in one run
// so that the machine's drift falls on both alike.
func Bench(ctx context.Context, opt BenchOptions) (*BenchReport, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 150 * time.Second
	}
	r := &BenchReport{Image: opt.Image, Ratios: map[string]float64{}}
	var mans [2]*image.Manifest
	for i, rel := range []string{opt.From, opt.To} {
		side, m, err := benchSide(rel, opt.Image)
		if err != nil {
			return nil, err
		}
		mans[i] = m
		if i == 0 {
			r.From = side
		} else {
			r.To = side
		}
	}
	ratio := func(name string, a, b float64) {
		if a > 0 {
			r.Ratios[name] = b / a
		}
	}
	if opt.Rounds > 0 {
		if mans[0].Boot == nil || mans[1].Boot == nil {
			return nil, fmt.Errorf("image %s is not bootable in both releases: nothing to boot (--rounds 0 measures sizes only)", opt.Image)
		}
		sides := []*BenchSide{&r.From, &r.To}
		for round := 0; round < opt.Rounds; round++ {
			for i, m := range mans {
				// Alternate which side goes first, so neither always runs on a warmer machine.
				if round%2 == 1 {
					i = 1 - i
					m = mans[i]
				}
				dir := filepath.Dir(sides[i].Manifest)
				plan, err := m.BootPlan(dir, "", opt.Cert)
				if err != nil {
					return nil, err
				}
				step := logctx.StartStep(ctx, "boot", m.Image, "booting", "release", sides[i].Release, "round", round+1)
				res, err := plan.Run(ctx, boot.Options{Timeout: opt.Timeout})
				if err != nil {
					step.Fail(err)
					return nil, err
				}
				if !res.OK {
					err := fmt.Errorf("%s of %s did not boot: %s", m.Image, sides[i].Release, res.Reason)
					step.Fail(err)
					return nil, err
				}
				step.Done("booted", "seconds", res.StatusAfter.Seconds())
				s := res.StatusAfter.Seconds()
				sides[i].Boots = append(sides[i].Boots, s)
				if sides[i].BootMin == 0 || s < sides[i].BootMin {
					sides[i].BootMin = s
				}
			}
		}
		ratio("boot", r.From.BootMin, r.To.BootMin)
	}
	ratio("packages", float64(r.From.Packages), float64(r.To.Packages))
	ratio("root_size", float64(r.From.RootSize), float64(r.To.RootSize))
	ratio("disk_size", float64(r.From.DiskSize), float64(r.To.DiskSize))
	return r, nil
}

func benchSide(rel, name string) (BenchSide, *image.Manifest, error) {
	rm, err := manifest.ReadManifest(rel)
	if err != nil {
		return BenchSide{}, nil, err
	}
	p := filepath.Join(rel, "images", name, manifest.ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return BenchSide{}, nil, fmt.Errorf("release %s has no image %s: %w", rm.Version, name, err)
	}
	var m image.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return BenchSide{}, nil, fmt.Errorf("%s: %w", p, err)
	}
	s := BenchSide{Release: rm.Version, Manifest: p, Packages: len(m.Packages), RootSize: m.Size}
	for _, o := range m.Outputs {
		s.DiskSize = max(s.DiskSize, o.Size)
	}
	return s, &m, nil
}

// WriteText prints both sides and the ratios.
func (r *BenchReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "image %s: %s → %s\n", r.Image, r.From.Release, r.To.Release)
	row := func(label string, a, b any, ratio string) {
		fmt.Fprintf(w, "  %-12s %14v %14v  %s\n", label, a, b, ratio)
	}
	rat := func(k string) string {
		if v, ok := r.Ratios[k]; ok {
			return fmt.Sprintf("%.2fx", v)
		}
		return "—"
	}
	row("", r.From.Release, r.To.Release, "to/from")
	row("packages", r.From.Packages, r.To.Packages, rat("packages"))
	row("root size", r.From.RootSize, r.To.RootSize, rat("root_size"))
	row("disk size", r.From.DiskSize, r.To.DiskSize, rat("disk_size"))
	if r.From.BootMin > 0 {
		row("boot (min)", fmt.Sprintf("%.2f s", r.From.BootMin), fmt.Sprintf("%.2f s", r.To.BootMin), rat("boot"))
		fmt.Fprintf(w, "  boots: %v / %v (alternating rounds)\n", r.From.Boots, r.To.Boots)
	}
}
