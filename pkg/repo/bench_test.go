package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkPublish publishes the benchmark set (bench/repo-gen.sh) when it
// has been generated.
func BenchmarkPublish(b *testing.B) {
	home, _ := os.UserHomeDir()
	rpms, _ := filepath.Glob(filepath.Join(home, ".cache", "keel", "bench", "rpms", "*.rpm"))
	if len(rpms) == 0 {
		b.Skip("run bench/repo-gen.sh first")
	}
	key, _ := keys(b)
	for b.Loop() {
		if _, err := Publish(context.Background(), Options{Dir: b.TempDir(), Packages: rpms, Key: key, SourceDateEpoch: sde}); err != nil {
			b.Fatal(err)
		}
	}
}
