package repo

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/repodata"
)

// sameMetadata fails unless the repositories a and b publish byte-identical
// metadata: repomd.xml, its signature, every file it names and the state
// file the next update starts from.
func sameMetadata(t *testing.T, step, a, b string) {
	t.Helper()
	read := func(dir, name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return data
	}
	mdA := read(a, "repodata/repomd.xml")
	if !bytes.Equal(mdA, read(b, "repodata/repomd.xml")) {
		t.Fatalf("%s: repomd.xml differs:\n%s\n---\n%s", step, mdA, read(b, "repodata/repomd.xml"))
	}
	md, err := repodata.ParseRepomd(mdA)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"repodata/repomd.xml.asc", "repodata/" + repodata.StateFile}
	for _, r := range md.Records {
		names = append(names, r.Href)
	}
	for _, n := range names {
		if !bytes.Equal(read(a, n), read(b, n)) {
			t.Fatalf("%s: %s differs between the incremental and the full index", step, n)
		}
	}
}

func copyWithMtime(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestIncrementalIndexEqualsFullIndex updates a repository step by step
// (one package added, several, some removed, one touched, nothing) and
// checks after each step that the metadata is byte for byte what a full
// index of the same files writes, and that the update started from the
// state file rather than from decompressing everything.
func TestIncrementalIndexEqualsFullIndex(t *testing.T) {
	bulk, err := rpmbuild(filepath.Join(t.TempDir(), "bulk"), bulkSpec(160))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keys(t)
	ctx := context.Background()
	inc := t.TempDir()
	mtimes := map[int]time.Time{}
	have := map[int]bool{}
	put := func(dir string, i int) {
		copyWithMtime(t, bulk[i], filepath.Join(dir, filepath.Base(bulk[i])), mtimes[i])
	}
	for i := range bulk {
		mtimes[i] = time.Unix(sde, 0)
	}
	for i := range 150 {
		if i != 10 && i != 50 && i != 51 && i != 120 {
			have[i] = true
			put(inc, i)
		}
	}
	if _, err := Index(ctx, IndexOptions{Dir: inc, Key: key, SourceDateEpoch: sde}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name          string
		add, remove   []int
		touch         []int
		read, reused  int
		unchangedRepo bool
	}{
		{name: "add one", add: []int{10}, read: 1, reused: 146},
		{name: "add three", add: []int{50, 51, 150}, read: 3, reused: 147},
		{name: "remove two", remove: []int{0, 100}, read: 0, reused: 148},
		{name: "touch one", touch: []int{20}, read: 1, reused: 147},
		{name: "add one, remove one", add: []int{120}, remove: []int{149}, read: 1, reused: 147},
		{name: "nothing", read: 0, reused: 148, unchangedRepo: true},
	}
	for _, s := range steps {
		for _, i := range s.add {
			have[i] = true
			put(inc, i)
		}
		for _, i := range s.remove {
			delete(have, i)
			if err := os.Remove(filepath.Join(inc, filepath.Base(bulk[i]))); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range s.touch {
			mtimes[i] = mtimes[i].Add(time.Hour)
			if err := os.Chtimes(filepath.Join(inc, filepath.Base(bulk[i])), mtimes[i], mtimes[i]); err != nil {
				t.Fatal(err)
			}
		}
		st, err := repodata.ReadState(inc)
		if err != nil {
			t.Fatal(err)
		}
		if st.Packages[0].Primary != nil {
			t.Fatalf("%s: the state file was not used: the metadata was decompressed", s.name)
		}
		before, _ := currentGeneration(inc)
		opt := IndexOptions{Dir: inc, Key: key, SourceDateEpoch: sde}
		res, err := Index(ctx, opt)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(res.Added) != s.read || res.Reused != s.reused || res.Packages != len(have) {
			t.Errorf("%s: read %d, re-used %d, %d packages; want %d, %d, %d", s.name, len(res.Added), res.Reused, res.Packages, s.read, s.reused, len(have))
		}
		if s.unchangedRepo && res.Generation != before {
			t.Errorf("%s: a new generation %s was published", s.name, res.Generation)
		}
		full := t.TempDir()
		for i := range have {
			put(full, i)
		}
		if _, err := Index(ctx, IndexOptions{Dir: full, Key: key, SourceDateEpoch: sde}); err != nil {
			t.Fatal(err)
		}
		sameMetadata(t, s.name, inc, full)
	}
}

// TestIncrementalPublishEqualsFullPublish publishes in two steps and in one
// and compares the metadata.
func TestIncrementalPublishEqualsFullPublish(t *testing.T) {
	bulk, err := rpmbuild(filepath.Join(t.TempDir(), "bulk"), bulkSpec(70))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keys(t)
	inc, full := t.TempDir(), t.TempDir()
	publish(t, inc, key, bulk[:40]...)
	publish(t, inc, key, bulk[40:]...)
	publish(t, full, key, bulk...)
	sameMetadata(t, "publish", inc, full)
}
