// Package oci turns a root filesystem into a single-layer container image
// and writes it as an OCI image layout directory or a docker-archive tar
// (what `docker load`, `podman load` and `skopeo copy docker-archive:`
// read), using go-containerregistry. Layers are reproducible: entries in
// lexical order, every mtime set to the given time, no user/group names,
// no access times.
package oci

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Config is the runtime configuration recorded in the image.
type Config struct {
	Arch       string // rpm arch: x86_64, aarch64
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	Labels     map[string]string
	Created    time.Time // SOURCE_DATE_EPOCH
}

// LayerTar writes root as a reproducible tar stream to w and returns the
// number of entries. Modification times are the root's own (the caller
// makes them deterministic: package files keep their header mtimes, so
// `rpm -V` stays clean in the unpacked image); mtime replaces any that lie
// in the future.
//
// root is an image root: the walk goes through it, so no link in the tree
// is followed and no file outside it is read.
func LayerTar(root *os.Root, mtime time.Time, w io.Writer) (int, error) {
	tw := tar.NewWriter(w)
	inodes := map[[2]uint64]string{}
	n := 0
	err := fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		fi, err := root.Lstat(rel)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = root.Readlink(rel); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		h.ModTime, h.AccessTime, h.ChangeTime = fi.ModTime().Truncate(time.Second), time.Time{}, time.Time{}
		if mtime.IsZero() || h.ModTime.After(time.Now()) {
			h.ModTime = mtime
		}
		h.Uname, h.Gname = "", ""
		if st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{uint64(st.Dev), st.Ino}
				if first, ok := inodes[key]; ok {
					h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
				} else {
					inodes[key] = rel
				}
			}
		}
		h.Format = tar.FormatPAX
		h.PAXRecords = nil
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		n++
		if h.Typeflag == tar.TypeReg {
			f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, io.LimitReader(f, h.Size))
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("layer: %w", err)
	}
	return n, tw.Close()
}

// Image builds the image from root. docker selects Docker media types
// (for docker-archive); otherwise OCI ones.
func Image(root *os.Root, cfg Config, docker bool) (v1.Image, int, error) {
	var buf bytes.Buffer
	n, err := LayerTar(root, cfg.Created, &buf)
	if err != nil {
		return nil, 0, err
	}
	data := buf.Bytes()
	mt := types.OCILayer
	if docker {
		mt = types.DockerLayer
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(mt))
	if err != nil {
		return nil, 0, fmt.Errorf("layer: %w", err)
	}
	base := empty.Image
	if !docker {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: cfg.Created}, CreatedBy: "keel image build", Comment: "packages"}})
	if err != nil {
		return nil, 0, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, 0, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[cfg.Arch]
	if cf.Architecture == "" {
		cf.Architecture = cfg.Arch
	}
	cf.OS = "linux"
	cf.Created = v1.Time{Time: cfg.Created}
	cf.Config.Entrypoint = cfg.Entrypoint
	cf.Config.Cmd = cfg.Cmd
	cf.Config.Env = cfg.Env
	cf.Config.WorkingDir = cfg.WorkingDir
	cf.Config.User = cfg.User
	cf.Config.Labels = cfg.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, 0, err
	}
	return img, n, nil
}

// WriteLayout writes img as an OCI image layout at dir (which must not
// exist), the manifest annotated with ref as its ref.name.
func WriteLayout(dir string, img v1.Image, ref string) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	p, err := layout.Write(dir, idx)
	if err != nil {
		return fmt.Errorf("oci layout %s: %w", dir, err)
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		return fmt.Errorf("oci layout %s: %w", dir, err)
	}
	return nil
}

// WriteDockerArchive writes img tagged ref ("name:tag") as a docker-archive tar.
func WriteDockerArchive(path string, img v1.Image, ref string) error {
	tag, err := name.NewTag(ref, name.WithDefaultRegistry(""))
	if err != nil {
		return fmt.Errorf("docker-archive tag %q: %w", ref, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tarball.Write(tag, img, f); err != nil {
		f.Close()
		return fmt.Errorf("docker-archive %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
