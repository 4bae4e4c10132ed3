package release

import (
	"context"
	"fmt"
	"os"

	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// Snapshot describes a source tree as a release would: it builds the tree
// (incrementally, through the shared cache) and reads its packages and
// kernels, without publishing or signing anything. The kernel configs are
// kept in a temporary directory the caller removes (Manifest.Extra["dir"]).
func Snapshot(ctx context.Context, d *distro.Distro, cache string) (*manifest.Manifest, string, error) {
	tmp, err := os.MkdirTemp("", "keel-snapshot-")
	if err != nil {
		return nil, "", err
	}
	bres, err := build.Run(ctx, build.Options{Distro: d, Cache: cache, Out: tmp + "/out"})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, "", fmt.Errorf("building %s: %w", d.Dir, err)
	}
	rc, err := LoadConfig(d)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, "", err
	}
	m := &manifest.Manifest{Distro: d.Config.Name, Version: d.Dir, Channel: "tree"}
	var files []string
	for _, p := range bres.Packages {
		m.Sources = append(m.Sources, manifest.SourcePackage{Name: p.Name, EVR: p.EVR, Type: p.Type})
		files = append(files, p.RPMs...)
	}
	if err := addPackages(m, "", files); err != nil {
		os.RemoveAll(tmp)
		return nil, "", err
	}
	if err := readKernels(m, ctx, tmp, d, rc); err != nil {
		os.RemoveAll(tmp)
		return nil, "", err
	}
	m.Gates = runGates(bres, m, rc, nil, nil)
	m.Sort()
	return m, tmp, nil
}

// DiffManifests compares any two of releases and tree snapshots; the
// directories hold their kernels/ configs.
func DiffManifests(aDir string, a *manifest.Manifest, bDir string, b *manifest.Manifest) *manifest.Notes {
	return manifest.CompareDirs(aDir, a, bDir, b)
}
