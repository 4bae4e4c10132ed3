package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParse parses the oracle corpus, or KEEL_SPEC_CORPUS/*/*.spec with
// KEEL_SPEC_LOAD macro files, once per iteration (no shell).
func BenchmarkParse(b *testing.B) {
	specs, _ := filepath.Glob("testdata/oracle/*.spec")
	var load, luaPath []string
	if dir := os.Getenv("KEEL_SPEC_CORPUS"); dir != "" {
		specs, _ = filepath.Glob(filepath.Join(dir, "*", "*.spec"))
	}
	if l := os.Getenv("KEEL_SPEC_LOAD"); l != "" {
		load = strings.Split(l, ":")
	}
	if l := os.Getenv("KEEL_SPEC_LUAPATH"); l != "" {
		luaPath = strings.Split(l, ":")
	}
	r, err := NewReader(Options{Load: load, LuaPath: luaPath, Defines: []string{"_sourcedir " + mustAbs("testdata/oracle")}})
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, len(specs))
	for i, s := range specs {
		data[i], _ = os.ReadFile(s)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, s := range specs {
			r.Parse(s, data[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(specs)), "µs/spec")
}

// BenchmarkNewReader measures loading rpm's macro files (done once per run).
func BenchmarkNewReader(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewReader(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDistro parses distro/SPECS once per iteration.
func BenchmarkDistro(b *testing.B) {
	specs, err := FindSpecs("../../distro")
	if err != nil {
		b.Fatal(err)
	}
	if len(specs) == 0 {
		b.Fatal("no specs under distro/SPECS")
	}
	r, err := NewReader(Options{Load: []string{"../../distro/SPECS/keel-rpm-macros/macros.keel"}, Defines: []string{"dist .kl1", "keel_version 1.0"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range specs {
			if _, err := r.ParseFile(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(specs)), "µs/spec")
}
