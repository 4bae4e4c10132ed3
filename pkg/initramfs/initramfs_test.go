package initramfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

const sampleDep = `kernel/drivers/md/dm-verity.ko: kernel/lib/reed_solomon/reed_solomon.ko kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-mod.ko:
kernel/drivers/md/dm-bufio.ko:
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/fs/erofs/erofs.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
`

func TestOrder(t *testing.T) {
	deps, err := ParseModulesDep(strings.NewReader(sampleDep), "modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	got, err := deps.Order([]string{"virtio_pci", "virtio_blk", "dm-verity", "erofs"}, map[string]bool{"virtio_pci": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko",
		"kernel/drivers/md/dm-mod.ko", "kernel/drivers/md/dm-bufio.ko", "kernel/lib/reed_solomon/reed_solomon.ko", "kernel/drivers/md/dm-verity.ko",
		"kernel/lib/libcrc32c.ko", "kernel/fs/erofs/erofs.ko"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
	if _, err := deps.Order([]string{"nope"}, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("missing module: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"garbage\n", "modules.dep:1"},
		{"a.ko:\na.ko:\n", "listed twice"},
		{"a.ko: ../b.ko\n", "not a module path"},
		{"/abs.ko:\n", "modules.dep:1"},
	} {
		if _, err := ParseModulesDep(strings.NewReader(tc.in), "modules.dep"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.in, err, tc.want)
		}
	}
	cyc := "a.ko: b.ko\nb.ko: a.ko\n"
	d, _ := ParseModulesDep(strings.NewReader(cyc), "x")
	if _, err := d.Order([]string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}

func FuzzParseModulesDep(f *testing.F) {
	f.Add(sampleDep)
	f.Add("a.ko: b.ko\nb.ko: a.ko\n")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseModulesDep(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		for p := range d {
			d.Order([]string{ModuleName(p)}, nil) // must not panic or loop
		}
	})
}

// TestBuildReproducible builds twice and unpacks with cpio(1).
func TestBuildReproducible(t *testing.T) {
	testenv.RequireTool(t, "cpio")
	dir := t.TempDir()
	mods := filepath.Join(dir, "lib/modules/6.1.0-test")
	for _, l := range strings.Split(strings.TrimSpace(sampleDep), "\n") {
		p, _, _ := strings.Cut(l, ":")
		os.MkdirAll(filepath.Join(mods, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(mods, p), []byte("module "+p), 0o644)
	}
	os.WriteFile(filepath.Join(mods, "modules.dep"), []byte(sampleDep), 0o644)
	initBin := filepath.Join(dir, "init")
	os.WriteFile(initBin, []byte("#!/bin/sh\n"), 0o755)
	o := Options{Init: initBin, ModulesDir: mods, Modules: []string{"erofs", "dm-verity"}, VerityKeys: [][]byte{[]byte("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----")},
		Files: []File{{Path: "/etc/keel/extra", Data: []byte("x")}}, SourceDateEpoch: 1700000000}
	var a, b bytes.Buffer
	if err := Build(context.Background(), o, &a); err != nil {
		t.Fatal(err)
	}
	if err := Build(context.Background(), o, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two builds differ")
	}
	out := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir = out
	cmd.Stdin = &a
	if o, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(o), "dev/console") {
		t.Fatalf("cpio: %v %s", err, o)
	}
	list, _ := os.ReadFile(filepath.Join(out, "etc/keel/modules"))
	want := "/lib/modules/6.1.0-test/kernel/lib/libcrc32c.ko\n/lib/modules/6.1.0-test/kernel/fs/erofs/erofs.ko\n"
	if !strings.HasPrefix(string(list), want) {
		t.Fatalf("modules list:\n%s", list)
	}
	deps, _ := os.ReadFile(filepath.Join(out, "etc/keel/modules.dep"))
	wantDeps := "/lib/modules/6.1.0-test/kernel/fs/erofs/erofs.ko: /lib/modules/6.1.0-test/kernel/lib/libcrc32c.ko\n"
	if !strings.Contains(string(deps), wantDeps) || !strings.HasPrefix(string(deps), "/lib/modules/6.1.0-test/kernel/lib/libcrc32c.ko:\n") {
		t.Fatalf("modules.dep:\n%s", deps)
	}
	for _, p := range []string{"init", "etc/initrd-release", "etc/keel/verity.pub", "lib/modules/6.1.0-test/kernel/drivers/md/dm-mod.ko"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Error(err)
		}
	}
	// Bad input: missing init, a wanted module the kernel lacks.
	if err := Build(context.Background(), Options{}, &bytes.Buffer{}); err == nil {
		t.Error("no init accepted")
	}
	o.Modules = []string{"nonexistent"}
	if err := WriteFile(context.Background(), o, filepath.Join(dir, "out.cpio")); err == nil {
		t.Error("missing module accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "out.cpio")); err == nil {
		t.Error("failed build left an output file")
	}
}

// TestZstd: a compressed archive is reproducible and zstd(1) unpacks it to
// the uncompressed one; an unknown compression is refused.
func TestZstd(t *testing.T) {
	testenv.RequireTool(t, "zstd")
	dir := t.TempDir()
	initBin := filepath.Join(dir, "init")
	os.WriteFile(initBin, bytes.Repeat([]byte("keel-init "), 10000), 0o755)
	o := Options{Init: initBin, SourceDateEpoch: 1700000000}
	var plain, a, b bytes.Buffer
	if err := Build(context.Background(), o, &plain); err != nil {
		t.Fatal(err)
	}
	o.Compression = "zstd"
	for _, w := range []*bytes.Buffer{&a, &b} {
		if err := Build(context.Background(), o, w); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || a.Len() >= plain.Len()/10 {
		t.Fatalf("zstd archives: %d and %d bytes (plain %d), equal %v", a.Len(), b.Len(), plain.Len(), bytes.Equal(a.Bytes(), b.Bytes()))
	}
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = &a
	out, err := cmd.Output()
	if err != nil || !bytes.Equal(out, plain.Bytes()) {
		t.Fatalf("zstd -d: %v (%d bytes, want %d)", err, len(out), plain.Len())
	}
	o.Compression = "lzma"
	if err := Build(context.Background(), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "lzma") {
		t.Fatalf("err = %v", err)
	}
}
