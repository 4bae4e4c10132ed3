package rpm

import (
	"bytes"
	"context"
	"errors"
	"github.com/keel-linux/keel/pkg/cpio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

type item struct {
	name  string
	mode  uint32
	data  string
	ino   uint32
	nlink uint32
}

// craftRPM writes a package named name whose zstd payload holds items, built
// entirely in Go so the payload can be as hostile as a test wants.
func craftRPM(t testing.TB, dir, name string, items []item) string {
	t.Helper()
	var archive bytes.Buffer
	cw := cpio.NewRawWriter(&archive)
	for i, it := range items {
		ino, nl := it.ino, it.nlink
		if ino == 0 {
			ino = uint32(i + 1)
		}
		if nl == 0 {
			nl = 1
		}
		if err := cw.WriteEntry(cpio.Entry{Name: it.name, Mode: it.mode, Ino: ino, Nlink: nl, Mtime: 1700000000}, []byte(it.data)); err != nil {
			t.Fatal(err)
		}
	}
	cw.Close()
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(archive.Bytes())
	zw.Close()
	h := NewHeader(TagHeaderImmutable)
	h.SetString(TagName, name)
	h.SetString(TagVersion, "1")
	h.SetString(TagRelease, "1")
	h.SetString(TagArch, "noarch")
	h.SetString(TagOS, "linux")
	h.SetString(TagSourceRPM, name+"-1-1.src.rpm")
	h.SetString(TagPayloadFormat, "cpio")
	h.SetString(TagPayloadCompressor, "zstd")
	hf := h.MarshalFile()
	sig := NewSignatureHeader(hf, z.Bytes(), uint64(archive.Len()))
	path := filepath.Join(dir, name+".rpm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WritePackage(f, Lead{Major: 3, Name: name + "-1-1", OSNum: 1, SigType: 5}, sig, hf, &z); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	reg  = 0o100644
	dir  = 0o040755
	lnk  = 0o120777
	chr  = 0o020644
	fifo = 0o010644
)

func TestExtractRefusesHostilePayloads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		items  []item
		policy ExtractPolicy
		path   string // named in the error
		want   string
	}{
		{"dotdot", []item{{name: "./usr/../../evil", mode: reg, data: "x"}}, ExtractPolicy{}, "/usr/../../evil", "'..'"},
		{"dotdot-deep", []item{{name: "./a/b/../../../../etc/passwd", mode: reg, data: "x"}}, ExtractPolicy{}, "/a/b/../../../../etc/passwd", "'..'"},
		{"abs-symlink", []item{{name: "./etc/lnk", mode: lnk, data: "/etc/shadow"}}, ExtractPolicy{}, "/etc/lnk", "absolute symlink"},
		{"rel-symlink-escape", []item{{name: "./usr/lnk", mode: lnk, data: "../../../outside"}}, ExtractPolicy{}, "/usr/lnk", "outside the root"},
		{"write-through-symlink", []item{
			{name: "./usr", mode: dir},
			{name: "./usr/up", mode: lnk, data: ".."},
			{name: "./usr/up/../escape", mode: reg, data: "x"},
		}, ExtractPolicy{}, "/usr/up/../escape", "'..'"},
		{"write-through-abs-symlink", []item{
			{name: "./d", mode: lnk, data: "/tmp"},
			{name: "./d/pwned", mode: reg, data: "x"},
		}, ExtractPolicy{AllowAbsoluteSymlinks: true}, "", ""},
		{"late-symlink-escape", []item{
			// a -> b/../.. is inside the root when made; b -> ../.. later
			// makes it resolve above the root.
			{name: "./x/y", mode: dir},
			{name: "./x/y/a", mode: lnk, data: "b/../../.."},
			{name: "./x/y/b", mode: lnk, data: "../.."},
		}, ExtractPolicy{}, "/x/y/a", "outside the root"},
		{"hardlink-out", []item{
			{name: "./ok", mode: reg, ino: 7, nlink: 2},
			{name: "./../hl", mode: reg, data: "x", ino: 7, nlink: 2},
		}, ExtractPolicy{}, "/../hl", "'..'"},
		{"device", []item{{name: "./dev/sda", mode: chr}}, ExtractPolicy{}, "/dev/sda", "device node"},
		{"fifo", []item{{name: "./run/fifo", mode: fifo}}, ExtractPolicy{}, "/run/fifo", "device node"},
		{"setuid", []item{{name: "./usr/bin/sh", mode: 0o104755, data: "x"}}, ExtractPolicy{}, "/usr/bin/sh", "setuid"},
		{"setgid", []item{{name: "./usr/bin/wall", mode: 0o102755, data: "x"}}, ExtractPolicy{AllowSetuid: []string{"/usr/bin/su"}}, "/usr/bin/wall", "setuid/setgid"},
		{"setuid-allowed", []item{{name: "./usr/bin/su", mode: 0o104755, data: "x"}}, ExtractPolicy{AllowSetuid: []string{"/usr/bin/su"}}, "", ""},
		{"file-as-parent", []item{{name: "./f", mode: reg, data: "x"}, {name: "./f/g", mode: reg, data: "y"}}, ExtractPolicy{}, "/f/g", "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			os.Mkdir(root, 0o755)
			pkgPath := craftRPM(t, base, "hostile-"+tc.name, tc.items)
			p, err := Open(pkgPath)
			if err != nil {
				t.Fatal(err)
			}
			err = ExtractPackage(context.Background(), p, root, tc.policy)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected refusal: %v", err)
				}
				// The absolute link is made, but writing through it stays in the root.
				if _, err := os.Stat("/tmp/pwned"); err == nil && tc.name == "write-through-abs-symlink" {
					t.Fatal("wrote through an absolute symlink onto the host")
				}
				return
			}
			var xe *ExtractError
			if !errors.As(err, &xe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ExtractError mentioning %q", err, tc.want)
			}
			if xe.Package != "hostile-"+tc.name+"-1-1.noarch" || xe.Path != tc.path {
				t.Errorf("error names %q %q, want package and path %q", xe.Package, xe.Path, tc.path)
			}
			if !errors.Is(err, ErrUnsafe) && tc.want != "not a directory" {
				t.Errorf("not ErrUnsafe: %v", err)
			}
			// Nothing appeared beside the root.
			ents, _ := os.ReadDir(base)
			for _, e := range ents {
				if e.Name() != "root" && !strings.HasSuffix(e.Name(), ".rpm") {
					t.Errorf("extraction escaped: %s", e.Name())
				}
			}
		})
	}
}

func TestExtractWriteThroughAbsSymlinkStaysInRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
	p, err := Open(craftRPM(t, base, "abs", []item{
		{name: "./d", mode: lnk, data: "/tmp"},
		{name: "./d/keel-test-file", mode: reg, data: "x"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ExtractPackage(context.Background(), p, root, ExtractPolicy{AllowAbsoluteSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/keel-test-file")); err != nil {
		t.Errorf("file not written under root/tmp: %v", err)
	}
}

func FuzzExtract(f *testing.F) {
	var b bytes.Buffer
	cw := cpio.NewRawWriter(&b)
	cw.WriteEntry(cpio.Entry{Name: "./a", Mode: dir, Nlink: 1}, nil)
	cw.WriteEntry(cpio.Entry{Name: "./a/f", Mode: reg, Nlink: 1}, []byte("data"))
	cw.WriteEntry(cpio.Entry{Name: "./a/l", Mode: lnk, Nlink: 1}, []byte("f"))
	cw.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		os.Mkdir(root, 0o755)
		Extract(context.Background(), bytes.NewReader(data), root, ExtractPolicy{})
		ents, _ := os.ReadDir(base)
		if len(ents) != 1 {
			t.Fatalf("extraction wrote beside the root: %v", ents)
		}
	})
}
