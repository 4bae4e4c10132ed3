package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		fill    func(*os.File) error
		want    string // content after the call
		wantErr error
	}{
		{"replaces", func(f *os.File) error { _, err := f.WriteString("new"); return err }, "new", nil},
		{"failed fill keeps the old file", func(f *os.File) error { f.WriteString("half"); return boom }, "old", boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := Write(p, 0o640, tc.fill); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Write: %v, want %v", err, tc.wantErr)
			}
			if b, _ := os.ReadFile(p); string(b) != tc.want {
				t.Errorf("content %q, want %q", b, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d entries left in the directory, want 1 (no temporary file)", len(ents))
			}
			if fi, _ := os.Stat(p); tc.wantErr == nil && fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", fi.Mode().Perm())
			}
		})
	}
}

func TestCopyKeepsMode(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "#!/bin/sh\n" || fi.Mode().Perm() != 0o755 {
		t.Errorf("copy %q mode %v, want the source's bytes and 0755", b, fi.Mode().Perm())
	}
	if err := Copy(filepath.Join(dir, "missing"), dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy of a missing file: %v", err)
	}
	if err := SyncTree(dir); err != nil {
		t.Errorf("SyncTree: %v", err)
	}
}
