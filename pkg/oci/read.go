package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrNotImage is a path that is neither an OCI image layout nor a
// docker-archive.
var ErrNotImage = errors.New("not an OCI image layout or docker-archive")

// GoArch is the OCI platform architecture of an rpm arch (x86_64 -> amd64).
func GoArch(arch string) string {
	if a := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[arch]; a != "" {
		return a
	}
	return arch
}

// Open reads the image at p: an OCI image layout (a directory with
// oci-layout) or a docker-archive (a tar with manifest.json). From an
// index it picks the linux image for arch (an rpm arch; "" takes the only
// one); an index without one is an error listing the platforms it has.
// Nothing is unpacked: layers stay compressed until a reader walks them.
func Open(p, arch string) (v1.Image, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", p, ErrNotImage, err)
		}
		return img, nil
	}
	if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s: %w (no oci-layout file)", p, ErrNotImage)
	}
	idx, err := layout.ImageIndexFromPath(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return pick(p, idx, GoArch(arch), 0)
}

func pick(p string, idx v1.ImageIndex, goarch string, depth int) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index: %w", p, err)
	}
	var seen []string
	for _, d := range im.Manifests {
		plat := "unknown"
		if d.Platform != nil {
			plat = d.Platform.OS + "/" + d.Platform.Architecture
		}
		ok := d.Platform == nil || ((d.Platform.OS == "" || d.Platform.OS == "linux") && (goarch == "" || d.Platform.Architecture == goarch))
		switch {
		case d.MediaType.IsIndex() && depth < 2:
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, d.Digest, err)
			}
			if img, err := pick(p, child, goarch, depth+1); err == nil {
				return img, nil
			}
			seen = append(seen, "index "+d.Digest.String()[:19])
		case d.MediaType.IsImage():
			if !ok {
				seen = append(seen, plat)
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, d.Digest, err)
			}
			return img, nil
		}
	}
	sort.Strings(seen)
	return nil, fmt.Errorf("%s: no linux/%s image in the index (it has: %s)", p, goarch, strings.Join(seen, ", "))
}
