package assess

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/oci"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
)

// DefaultBaseImage is the release's container image a workload is
// assessed on when none is named: the base container images are built FROM.
const DefaultBaseImage = "container-core"

// BaseInfo says what a workload was assessed against.
type BaseInfo struct {
	Source   string `json:"source"`            // the --base argument
	Release  string `json:"release,omitempty"` // 1.0.YYYYMMDD, when a release directory
	Image    string `json:"image"`             // the container image whose root is the base
	Arch     string `json:"arch"`
	Packages int    `json:"packages"`       // in that image
	Repo     string `json:"repo,omitempty"` // the repository package names come from
}

// Base is a base image root indexed in memory, with the release
// repository's packages when there is one (to name what would provide a
// missing file or soname).
type Base struct {
	Info  BaseInfo
	root  *tree
	names map[string]bool // packages of the base image
	repo  []*resolve.Package
}

// OpenBase reads a base: a release directory (its container image named
// imageName, default DefaultBaseImage, and its repo/), an image directory
// holding manifest.json, or that manifest.json itself. The image's root is
// read from its OCI layout or docker-archive output, in memory.
func OpenBase(ctx context.Context, src, imageName string) (*Base, error) {
	b := &Base{Info: BaseInfo{Source: src}, names: map[string]bool{}}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", src, err)
	}
	imDir, repoDir := src, ""
	if !fi.IsDir() {
		imDir = filepath.Dir(src)
	}
	im, kind, err := readManifest(filepath.Join(imDir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", src, err)
	}
	if kind == "release" {
		rel, err := manifest.ReadManifest(imDir)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", src, err)
		}
		b.Info.Release = rel.Version
		if imageName == "" {
			imageName = DefaultBaseImage
		}
		var found []string
		var file string
		for _, s := range rel.Images {
			if s.Format == "container" {
				found = append(found, s.Name)
				if s.Name == imageName {
					file = s.File
				}
			}
		}
		if file == "" {
			return nil, fmt.Errorf("base %s: release %s has no container image %q (it has: %s)", src, rel.Version, imageName, strings.Join(found, ", "))
		}
		repoDir = filepath.Join(imDir, manifest.RepoDir)
		imDir = filepath.Join(imDir, filepath.Dir(filepath.FromSlash(file)))
		if im, _, err = readManifest(filepath.Join(imDir, "manifest.json")); err != nil {
			return nil, fmt.Errorf("base %s: %w", src, err)
		}
	} else if imageName != "" && imageName != im.Image {
		return nil, fmt.Errorf("base %s is image %s, not %s", src, im.Image, imageName)
	} else if r := filepath.Join(imDir, "..", "..", manifest.RepoDir); isDir(r) {
		repoDir = r // an image of a release directory: releases/V/images/NAME/
	}
	b.Info.Image, b.Info.Arch, b.Info.Packages = im.Image, im.Arch, len(im.Packages)
	for _, p := range im.Packages {
		b.names[p.Name] = true
	}
	var out string
	for _, o := range im.Outputs {
		if o.Format == "oci" || (o.Format == "docker-archive" && out == "") {
			out = filepath.Join(imDir, filepath.FromSlash(o.Path))
		}
	}
	if out == "" {
		return nil, fmt.Errorf("base %s: image %s has no oci or docker-archive output (a container image is the base)", src, im.Image)
	}
	step := logctx.StartStep(ctx, "assess", im.Image, "reading the base", "image", out)
	img, err := oci.Open(out, im.Arch)
	if err != nil {
		step.Fail(err)
		return nil, fmt.Errorf("base %s: %w", src, err)
	}
	b.root = newTree()
	if err := b.root.addLayers(img, "base"); err != nil {
		step.Fail(err)
		return nil, fmt.Errorf("base %s: %s: %w", src, out, err)
	}
	step.Done("read", "files", len(b.root.nodes))
	if repoDir != "" && isDir(repoDir) {
		_, pkgs, err := repodata.ReadRepo(repoDir)
		if err != nil {
			return nil, fmt.Errorf("base %s: repository: %w", src, err)
		}
		if b.repo, err = resolve.FromRepodata(pkgs, repoDir); err != nil {
			return nil, fmt.Errorf("base %s: repository: %w", src, err)
		}
		b.Info.Repo = repoDir
	}
	return b, nil
}

// readManifest reads an image manifest.json, or tells a release's apart.
func readManifest(p string) (*image.Manifest, string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("not a release or image directory: %w", err)
	}
	var probe struct {
		Image   string          `json:"image"`
		Version string          `json:"version"`
		Sources json.RawMessage `json:"source_packages"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	if probe.Image == "" {
		if probe.Version != "" && probe.Sources != nil {
			return nil, "release", nil
		}
		return nil, "", fmt.Errorf("%s: neither a release manifest (version, source_packages) nor an image manifest (image)", p)
	}
	var m image.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	return &m, "image", nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// provider names the release's packages that provide cap (an rpm
// capability such as "libfoo.so.1()(64bit)") or, when cap is a path, that
// file; "" when none does.
func (b *Base) provider(cap string) string {
	var names []string
	seen := map[string]bool{}
	for _, p := range b.repo {
		if p.Arch == "src" || seen[p.Name] {
			continue
		}
		hit := false
		if strings.HasPrefix(cap, "/") {
			for _, f := range p.Files {
				if f == cap {
					hit = true
					break
				}
			}
		} else {
			for _, d := range p.Provides {
				if d.Name == cap {
					hit = true
					break
				}
			}
		}
		if hit {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, ", ")
}
