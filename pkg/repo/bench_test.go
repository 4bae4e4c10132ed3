package repo

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchRPMs is the benchmark set of bench/repo-gen.sh, when generated.
func benchRPMs(b *testing.B) (rpms []string, extra string) {
	home, err := os.UserHomeDir()
	if err != nil {
		b.Fatal(err)
	}
	cache := filepath.Join(home, ".cache", "keel", "bench")
	rpms, _ = filepath.Glob(filepath.Join(cache, "rpms", "*.rpm"))
	ex, _ := filepath.Glob(filepath.Join(cache, "extra", "*.rpm"))
	if len(rpms) == 0 || len(ex) == 0 {
		b.Skip("run bench/repo-gen.sh first")
	}
	return rpms, ex[0]
}

// BenchmarkPublish publishes the benchmark set.
func BenchmarkPublish(b *testing.B) {
	rpms, _ := benchRPMs(b)
	key, _ := keys(b)
	for b.Loop() {
		if _, err := Publish(context.Background(), Options{Dir: b.TempDir(), Packages: rpms, Key: key, SourceDateEpoch: sde}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexUpdate adds one package to an indexed directory of the
// 1,000-package benchmark set (createrepo_c --update's job), in process:
// the process start-up bench/repo.sh also counts is not in it.
func BenchmarkIndexUpdate(b *testing.B) {
	rpms, extra := benchRPMs(b)
	key, _ := keys(b)
	base := b.TempDir()
	for _, r := range append(rpms, extra) {
		copyFile(b, r, filepath.Join(base, filepath.Base(r)))
	}
	os.Remove(filepath.Join(base, filepath.Base(extra)))
	ctx := context.Background()
	if _, err := Index(ctx, IndexOptions{Dir: base, Key: key, SourceDateEpoch: sde}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		copyFile(b, extra, filepath.Join(base, filepath.Base(extra)))
		b.StartTimer()
		res, err := Index(ctx, IndexOptions{Dir: base, Key: key, SourceDateEpoch: sde})
		if err != nil || len(res.Added) != 1 {
			b.Fatal(res, err)
		}
		b.StopTimer()
		// Back to the 1,000-package state for the next round.
		os.Remove(filepath.Join(base, filepath.Base(extra)))
		if _, err := Index(ctx, IndexOptions{Dir: base, Key: key, SourceDateEpoch: sde}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func copyFile(b *testing.B, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := in.Stat()
	os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}
