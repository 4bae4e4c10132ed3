package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

// benchSpecs is the compose benchmark's repository: ~300 interrelated
// packages (RandomSimple) with a few files each, and "bench-all"
// requiring every pNNN package.
func benchSpecs() []resolvetest.Spec {
	specs := resolvetest.RandomSimple(42, 300)
	all := resolvetest.Spec{Name: "bench-all"}
	for i := range specs {
		s := &specs[i]
		if s.Files == nil {
			s.Files = map[string]string{}
		}
		for k := 0; k < 3; k++ {
			s.Files[fmt.Sprintf("/usr/share/%s/data%d-%s", s.Name, k, s.Version)] = strings.Repeat(s.Name+" data\n", 200*(k+1))
		}
		if strings.HasPrefix(s.Name, "p") && s.Version == "1.0" {
			all.Requires = append(all.Requires, s.Name)
		}
	}
	return append(specs, all)
}

const benchYAML = "name: bench\nkind: container\npackages: [bench-all]\noutputs: [{format: rootfs-tar}]\n"

// TestWriteBenchRepo writes the benchmark repository and definition for
// bench/compose.sh when KEEL_BENCH_DIR is set.
func TestWriteBenchRepo(t *testing.T) {
	dir := os.Getenv("KEEL_BENCH_DIR")
	if dir == "" {
		t.Skip("KEEL_BENCH_DIR not set (bench/compose.sh sets it)")
	}
	if err := resolvetest.WriteRepo(filepath.Join(dir, "repo"), benchSpecs()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(benchYAML), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCompose(b *testing.B) {
	repo := filepath.Join(b.TempDir(), "repo")
	if err := resolvetest.WriteRepo(repo, benchSpecs()); err != nil {
		b.Fatal(err)
	}
	benchCompose(b, repo, Options{AllowUnsigned: true})
}

// BenchmarkComposeSigned is BenchmarkCompose with every signature checked
// (repomd.xml, each package header) against a trusted key.
func BenchmarkComposeSigned(b *testing.B) {
	src := b.TempDir()
	var rpms []string
	for _, s := range benchSpecs() {
		p, err := resolvetest.WriteRPM(src, s)
		if err != nil {
			b.Fatal(err)
		}
		rpms = append(rpms, p)
	}
	benchCompose(b, signedRepo(b, testKey(), rpms), Options{Trusted: testKeyring()})
}

func benchCompose(b *testing.B, repo string, opt Options) {
	d, err := Parse("bench.yaml", []byte(benchYAML))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(b.TempDir(), fmt.Sprint(i))
		o := opt
		o.Definition, o.Repos, o.Out, o.SourceDateEpoch, o.RootOnly = d, []string{repo}, out, sde, true
		res, err := Build(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Manifest.Packages)), "pkgs")
	}
}
