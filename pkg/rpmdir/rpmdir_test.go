package rpmdir

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
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

// TestListManyEntries crosses getdents buffer boundaries.
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

// reset forgets any prefetch (one per process outside tests).
func reset() {
	prefetch.mu.Lock()
	defer prefetch.mu.Unlock()
	if prefetch.done != nil {
		<-prefetch.done
	}
	if prefetch.lock != nil {
		prefetch.lock.Close()
	}
	prefetch.root, prefetch.locked, prefetch.done, prefetch.lock = "", nil, nil, nil
	prefetch.res, prefetch.err, prefetch.handed = nil, nil, false
}

func TestPrefetchHandsOverLockAndWalk(t *testing.T) {
	defer reset()
	d := tree(t)
	Prefetch(d, "repodata", ".meta/lock")
	f := TakeLock(d)
	if f == nil {
		t.Fatal("no lock handed over")
	}
	defer f.Close()
	// The lock is really held: another open file description cannot take it.
	other, err := os.Open(filepath.Join(d, ".meta/lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("lock file not locked after TakeLock")
	}
	// Ready is the walk's end, for that directory only.
	if Ready(d) != (<-chan struct{})(prefetch.done) {
		t.Fatal("Ready(dir) is not the prefetch's done channel")
	}
	<-Ready(d)
	select {
	case <-Ready(t.TempDir()):
	default:
		t.Fatal("Ready of a directory nothing prefetched is not closed")
	}
	// Answered from the walk: a package added now (which the lock would
	// keep other keel writers from doing) after the walk is not seen...
	os.WriteFile(filepath.Join(d, "z.rpm"), nil, 0o644)
	got, err := Take(d, "repodata")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a-1.0-1.x86_64.rpm", "sub/b-1.0-1.noarch.rpm", "sub/deeper/c.rpm"}; !slices.Equal(hrefs(got), want) {
		t.Fatalf("Take = %q, want the prefetched %q", hrefs(got), want)
	}
	// ...and the prefetch is used once.
	if got, _ := Take(d, "repodata"); len(got) != 4 {
		t.Fatalf("second Take = %q, want a fresh walk", hrefs(got))
	}
}

func TestPrefetchWaitsForTheLock(t *testing.T) {
	defer reset()
	d := tree(t)
	holder, err := os.Open(filepath.Join(d, ".meta/lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(holder.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	Prefetch(d, "repodata", ".meta/lock")
	var wg sync.WaitGroup
	var f *os.File
	wg.Add(1)
	go func() { defer wg.Done(); f = TakeLock(d) }()
	// Another writer, holding the lock, adds a package, then lets go.
	time.Sleep(50 * time.Millisecond)
	os.WriteFile(filepath.Join(d, "late.rpm"), nil, 0o644)
	holder.Close()
	wg.Wait()
	if f == nil {
		t.Fatal("no lock handed over")
	}
	defer f.Close()
	got, _ := Take(d, "repodata")
	if !slices.Contains(hrefs(got), "late.rpm") {
		t.Fatalf("walk made before the lock was taken: %q", hrefs(got))
	}
}

func TestPrefetchFallbacks(t *testing.T) {
	t.Run("no lock file", func(t *testing.T) {
		defer reset()
		d := tree(t)
		os.Remove(filepath.Join(d, ".meta/lock"))
		Prefetch(d, "repodata", ".meta/lock")
		if f := TakeLock(d); f != nil {
			t.Fatal("lock handed over without a lock file")
		}
		if _, err := os.Stat(filepath.Join(d, ".meta/lock")); err == nil {
			t.Fatal("prefetch created the lock file")
		}
		if got, _ := Take(d, "repodata"); len(got) != 3 {
			t.Fatalf("Take = %q", hrefs(got))
		}
	})
	t.Run("other directory", func(t *testing.T) {
		defer reset()
		d, e := tree(t), tree(t)
		Prefetch(d, "repodata", ".meta/lock")
		if f := TakeLock(e); f != nil {
			t.Fatal("lock of another directory handed over")
		}
		os.WriteFile(filepath.Join(e, "new.rpm"), nil, 0o644)
		if got, _ := Take(e, "repodata"); len(got) != 4 {
			t.Fatalf("Take = %q", hrefs(got))
		}
	})
	t.Run("Take without TakeLock", func(t *testing.T) {
		defer reset()
		d := tree(t)
		Prefetch(d, "repodata", ".meta/lock")
		<-prefetch.done
		os.WriteFile(filepath.Join(d, "new.rpm"), nil, 0o644)
		if got, _ := Take(d, "repodata"); len(got) != 4 {
			t.Fatalf("walk used without its lock: %q", hrefs(got))
		}
	})
	t.Run("second lock", func(t *testing.T) {
		defer reset()
		d := tree(t)
		Prefetch(d, "repodata", ".meta/lock")
		f := TakeLock(d)
		if f == nil {
			t.Fatal("no lock")
		}
		f.Close() // released: the walk no longer holds
		if g := TakeLock(d); g != nil {
			t.Fatal("second hand-over")
		}
		os.WriteFile(filepath.Join(d, "new.rpm"), nil, 0o644)
		if got, _ := Take(d, "repodata"); len(got) != 4 {
			t.Fatalf("walk used after its lock was released: %q", hrefs(got))
		}
	})
}
