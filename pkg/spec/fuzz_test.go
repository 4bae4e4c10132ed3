package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// fuzzReader loads no host macro files and never runs %(...).
func fuzzReader(t testing.TB) *Reader {
	r, err := NewReader(Options{MacroFiles: []string{}, Defines: []string{"_sourcedir /nonexistent", "nil %{!?x}"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addSpecSeeds(f *testing.F) {
	for _, dir := range []string{"testdata/oracle", "testdata/bad"} {
		ms, _ := filepath.Glob(filepath.Join(dir, "*.spec"))
		for _, m := range ms {
			b, err := os.ReadFile(m)
			if err == nil {
				f.Add(b)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	addSpecSeeds(f)
	r := fuzzReader(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := r.Parse("fuzz.spec", data)
		if err == nil && s.Name == "" {
			t.Fatal("parsed a spec without a name")
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%{?a:%{b}}", "%{expand:%%{x}}", "%[1+2]", "%define x(a:) %{-a*}\n%x -a 1", "%{lua: print(1)}", "%{{}}%(", "%{quote:a b}"} {
		f.Add(s)
	}
	r := fuzzReader(f)
	f.Fuzz(func(t *testing.T, s string) {
		m := r.Macros().Clone()
		m.Expand(s)
	})
}

func FuzzParseDeps(f *testing.F) {
	for _, s := range []string{"a, b >= 1", "(a or (b and c))", "(a if b else c)", "foo = 1:2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ParseDeps(s)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.Name == "" {
				t.Fatalf("%q: empty dependency name", s)
			}
		}
	})
}
