package oci

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func testRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc", "b"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "usr/bin/tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/conf"), []byte("x=1\n"), 0o644)
	os.Link(filepath.Join(root, "etc/conf"), filepath.Join(root, "b/conf-link"))
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	return root
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestLayerTar(t *testing.T) {
	root := openRoot(t, testRoot(t))
	mtime := time.Unix(1700000000, 0)
	var a, b bytes.Buffer
	if _, err := LayerTar(root, mtime, &a); err != nil {
		t.Fatal(err)
	}
	// Different on-disk times for build-touched entries must not matter
	// once the caller has clamped them; same root, same bytes.
	if _, err := LayerTar(root, mtime, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("layer not reproducible")
	}
	tr := tar.NewReader(&a)
	var names []string
	var sawLink, sawSym bool
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() {
			t.Errorf("%s: host-specific fields %q %q %v", h.Name, h.Uname, h.Gname, h.AccessTime)
		}
		if h.Typeflag == tar.TypeLink && h.Name == "etc/conf" || h.Typeflag == tar.TypeLink && h.Name == "b/conf-link" {
			sawLink = true
		}
		if h.Typeflag == tar.TypeSymlink && h.Name == "bin" && h.Linkname == "usr/bin" {
			sawSym = true
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] > names[i] && filepath.Dir(names[i]) != names[i-1] {
			t.Errorf("not in walk order: %s before %s", names[i-1], names[i])
		}
	}
	if !sawLink || !sawSym {
		t.Errorf("hard link %v, symlink %v in %v", sawLink, sawSym, names)
	}
}

func TestImageOutputs(t *testing.T) {
	root := openRoot(t, testRoot(t))
	cfg := Config{Arch: "x86_64", Cmd: []string{"/usr/bin/tool"}, Created: time.Unix(1700000000, 0).UTC()}
	img1, _, err := Image(root, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	img2, _, err := Image(root, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img1.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Fatalf("digests differ: %s %s", d1, d2)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, img1, "latest"); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest != d1 ||
		m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
		t.Fatalf("index %+v %v", m, err)
	}
	cf, _ := img1.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || cf.Config.Cmd[0] != "/usr/bin/tool" || !cf.Created.Time.Equal(cfg.Created) {
		t.Errorf("config %+v", cf)
	}
	dimg, _, err := Image(root, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := WriteDockerArchive(p, dimg, "keel-test:1"); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bd, _ := back.Digest(); bd == (d1) {
		t.Log("docker and OCI media types give the same digest (unexpected but harmless)")
	}
	if _, err := back.ConfigFile(); err != nil {
		t.Fatal(err)
	}
	if err := WriteDockerArchive(p+"2", dimg, "Bad Tag"); err == nil {
		t.Error("bad tag accepted")
	}
}
