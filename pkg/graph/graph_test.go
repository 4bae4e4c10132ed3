package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/pkg/spec"
)

// writeSpecs writes tiny specs into a temp dir and parses them with keel's
// reader (no host macro files needed).
func writeSpecs(t *testing.T, specs map[string]string) []*spec.Spec {
	t.Helper()
	dir := t.TempDir()
	r, err := spec.NewReader(spec.Options{MacroFiles: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*spec.Spec
	for name, body := range specs {
		p := filepath.Join(dir, name+".spec")
		text := "Name: " + name + "\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\n" + body + "\n%description\nx\n%files\n"
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := r.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		specs  map[string]string
		layers string
		cycle  string
	}{
		{"chain", map[string]string{
			"app":  "BuildRequires: libfoo-devel >= 1",
			"foo":  "%package -n libfoo-devel\nSummary: d\nRequires: libbar\n%description -n libfoo-devel\nd\n%files -n libfoo-devel",
			"bar":  "Provides: libbar = 2",
			"tool": "BuildRequires: gcc make",
		}, "bar foo tool | app", ""},
		{"rich and versions", map[string]string{
			"a": "BuildRequires: (b or c)\nBuildRequires: d < 1",
			"b": "", "c": "", "d": "",
		}, "b c d | a", ""},
		{"cycle", map[string]string{
			"x": "BuildRequires: y",
			"y": "BuildRequires: z-devel",
			"z": "BuildRequires: x\n%package devel\nSummary: d\n%description devel\nd\n%files devel",
			"w": "",
		}, "w", "x -[y]-> y, y -[z-devel]-> z, z -[x]-> x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(writeSpecs(t, tc.specs))
			layers, err := g.Order()
			var parts []string
			for _, l := range layers {
				parts = append(parts, strings.Join(l, " "))
			}
			if got := strings.Join(parts, " | "); got != tc.layers {
				t.Errorf("layers %q, want %q", got, tc.layers)
			}
			var ce *CycleError
			if tc.cycle == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.As(err, &ce) {
				t.Fatalf("want a cycle error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.cycle) {
				t.Errorf("cycle %q, want %q", err, tc.cycle)
			}
			if len(g.Cycles()) != 1 {
				t.Errorf("Cycles() = %v", g.Cycles())
			}
		})
	}
}

func TestFormats(t *testing.T) {
	g := New(writeSpecs(t, map[string]string{"a": "BuildRequires: b\nBuildRequires: outside", "b": ""}))
	var buf bytes.Buffer
	if err := g.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc JSON
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Layers) != 2 || doc.Unresolved["a"][0] != "outside" || doc.Edges[0].To != "b" {
		t.Errorf("json: %s", buf.String())
	}
	buf.Reset()
	if err := g.WriteDOT(&buf); err != nil || !strings.Contains(buf.String(), `"a" -> "b" [label="b"]`) {
		t.Errorf("dot: %v %s", err, buf.String())
	}
	buf.Reset()
	if err := g.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "layer 2: a") {
		t.Errorf("text: %v %s", err, buf.String())
	}
}

// BenchmarkGraph builds and orders a synthetic tree of 2,000 specs, each
// build-requiring the -devel packages of up to three earlier specs.
func BenchmarkGraph(b *testing.B) {
	var specs []*spec.Spec
	for i := 0; i < 2000; i++ {
		name := fmt.Sprintf("p%04d", i)
		s := &spec.Spec{Name: name, Version: "1", Release: "1"}
		for j := 1; j <= 3 && i-j*7 >= 0; j++ {
			s.BuildRequires = append(s.BuildRequires, spec.Dep{Name: fmt.Sprintf("p%04d-devel", i-j*7), Op: ">=", EVR: "1"})
		}
		s.Packages = []*spec.Package{
			{Name: name, Provides: []spec.Dep{{Name: name, Op: "=", EVR: "1-1"}}},
			{Name: name + "-devel", Provides: []spec.Dep{{Name: name + "-devel", Op: "=", EVR: "1-1"}},
				Requires: []spec.Dep{{Name: name}}},
		}
		specs = append(specs, s)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := New(specs)
		if _, err := g.Order(); err != nil {
			b.Fatal(err)
		}
	}
}
