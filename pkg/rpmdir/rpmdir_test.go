package rpmdir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tree makes a repository-like directory: packages at two levels, things
// the walk must skip, and the lock file pkg/repo uses.
func tree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for name, size := range map[string]int{
		"a-1.0-1.x86_64.rpm":     3,
		"sub/b-1.0-1.noarch.rpm": 5,
		"sub/deeper/c.rpm":       7,
		"d-1.0-1.src.rpm":        1, // source package
		"notes.txt":              1,
		".hidden/e.rpm":          1, // dot directory
		".tmp-f.rpm":             1, // dot file
		"repodata/g.rpm":         1, // the skipped name
		".meta/lock":             0,
	} {
		p := filepath.Join(d, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a-1.0-1.x86_64.rpm", filepath.Join(d, "link.rpm")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "dir.rpm"), 0o755); err != nil { // a directory named like a package
		t.Fatal(err)
	}
	return d
}

func hrefs(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Href)
	}
	return out
}

func TestList(t *testing.T) {
	d := tree(t)
	got, err := List(d, "repodata")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a-1.0-1.x86_64.rpm", "sub/b-1.0-1.noarch.rpm", "sub/deeper/c.rpm"}
	if !slices.Equal(hrefs(got), want) {
		t.Fatalf("List = %q, want %q", hrefs(got), want)
	}
	fi, _ := os.Stat(filepath.Join(d, "sub/b-1.0-1.noarch.rpm"))
	if got[1].Size != 5 || got[1].Mtime != fi.ModTime().Unix() {
		t.Errorf("b: size %d mtime %d, want 5 %d", got[1].Size, got[1].Mtime, fi.ModTime().Unix())
	}
	if _, err := List(filepath.Join(d, "missing"), ""); err == nil {
		t.Error("missing directory: no error")
	}
}

// TestListManyEntries: a directory read in more than one batch.
func TestListManyEntries(t *testing.T) {
	d := t.TempDir()
	var want []string
	for i := range 3000 {
		name := filepath.Base(filepath.Join(d, "package-with-a-rather-long-name-"+string(rune('a'+i%26))+"-"+itoa(i)+".rpm"))
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(d, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	got, err := List(d, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hrefs(got), want) {
		t.Fatalf("got %d files, want %d", len(got), len(want))
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}
