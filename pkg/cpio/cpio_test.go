package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

// TestExtractWithCpio checks the archive with GNU cpio, a real consumer.
func TestExtractWithCpio(t *testing.T) {
	testenv.RequireTool(t, "cpio")
	var buf bytes.Buffer
	w := NewWriter(&buf)
	entries := []struct {
		h    Header
		data string
	}{
		{Header{Name: "etc", Mode: TypeDir | 0o755, Mtime: 1700000000}, ""},
		{Header{Name: "etc/hello", Mode: TypeReg | 0o644, Mtime: 1700000000}, "hello, world\n"},
		{Header{Name: "etc/odd", Mode: TypeReg | 0o600, Mtime: 1700000000}, "abc"},
		{Header{Name: "etc/link", Mode: TypeSymlink | 0o777, Mtime: 1700000000}, "hello"},
		{Header{Name: "empty", Mode: TypeReg | 0o644, Mtime: 1700000000}, ""},
	}
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.data))
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%512 != 0 {
		t.Fatalf("archive length %d not padded to 512", buf.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.h.Name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(fi.Mode().Perm()) != e.h.Mode&0o777 && e.h.Mode&0o170000 != TypeSymlink {
			t.Errorf("%s: mode %v", e.h.Name, fi.Mode())
		}
		switch e.h.Mode & 0o170000 {
		case TypeReg:
			b, _ := os.ReadFile(p)
			if string(b) != e.data {
				t.Errorf("%s: %q, want %q", e.h.Name, b, e.data)
			}
		case TypeSymlink:
			if l, _ := os.Readlink(p); l != e.data {
				t.Errorf("%s -> %q", e.h.Name, l)
			}
		}
		if fi.ModTime().Unix() != 1700000000 && e.h.Mode&0o170000 == TypeReg {
			t.Errorf("%s: mtime %v", e.h.Name, fi.ModTime())
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(w *Writer) error
		want string
	}{
		{"short", func(w *Writer) error {
			w.WriteHeader(&Header{Name: "a", Mode: TypeReg, Size: 3})
			w.Write([]byte("a"))
			return w.Close()
		}, "short"},
		{"overflow", func(w *Writer) error {
			w.WriteHeader(&Header{Name: "a", Mode: TypeReg, Size: 1})
			_, err := w.Write([]byte("ab"))
			return err
		}, "past"},
		{"empty-name", func(w *Writer) error { return w.WriteHeader(&Header{Name: "/"}) }, "bad entry name"},
		{"dir-data", func(w *Writer) error { return w.WriteHeader(&Header{Name: "d", Mode: TypeDir, Size: 1}) }, "directory with data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(NewWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
