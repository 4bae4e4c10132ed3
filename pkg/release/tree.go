package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/srctree"
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

// IsSourceOnly reports whether dir is a distribution source tree that is
// not a Keel tree (no keel.yaml) and not a release: another distribution's
// specs, compared from the specs alone.
func IsSourceOnly(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "keel.yaml")); err == nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, manifest.ManifestFile)); err == nil {
		return false
	}
	return srctree.IsTree(dir)
}

// DiffSourceTrees reads two source trees from their specs alone (nothing is
// built) and compares them: EVRs, binary packages, CVE patches, kernel configs.
func DiffSourceTrees(ctx context.Context, a, b string, opt srctree.Options) (*srctree.Diff, error) {
	step := logctx.StartStep(ctx, "srctree", a, "reading specs")
	ta, err := srctree.Read(ctx, a, opt)
	if err != nil {
		step.Fail(err)
		return nil, err
	}
	step.Done("read", "specs", ta.Specs, "problems", len(ta.Problems))
	step = logctx.StartStep(ctx, "srctree", b, "reading specs")
	tb, err := srctree.Read(ctx, b, opt)
	if err != nil {
		step.Fail(err)
		return nil, err
	}
	step.Done("read", "specs", tb.Specs, "problems", len(tb.Problems))
	return srctree.Compare(ta, tb), nil
}
