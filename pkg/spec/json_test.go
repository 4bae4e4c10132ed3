package spec

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAppendJSONMatchesEncodingJSON: every spec of distro/ and the oracle
// corpus, plus hand-made values reaching every omitempty branch, encode to
// encoding/json's bytes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	var specs []*Spec
	files, _ := filepath.Glob("testdata/oracle/*.spec")
	distro, _ := filepath.Glob("../../distro/SPECS/*/*.spec")
	r, err := NewReader(Options{Defines: []string{"_sourcedir " + mustAbs("testdata/oracle")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, distro...) {
		if s, err := r.ParseFile(f); err == nil {
			specs = append(specs, s)
		}
	}
	if len(specs) < 10 {
		t.Fatalf("only %d specs parsed", len(specs))
	}
	specs = append(specs,
		&Spec{}, // nil packages: "packages":null
		&Spec{Path: "<&>\u2028\x00\xff", Epoch: "1", URL: "u", BuildArch: "noarch", HasCheck: true,
			BuildRequires:  []Dep{{Name: "a", Op: ">=", EVR: "1:2-3", Qualifier: []string{"pre", "post"}, Rich: true}, {Name: "b"}},
			BuildConflicts: []Dep{{Name: "c"}}, Sources: []Source{{Num: 0, URL: "http://x/a.tgz", File: "a.tgz"}},
			Patches: []Source{{Num: 12, File: "p.patch"}}, ExclusiveArch: []string{"x86_64"}, ExcludeArch: []string{"s390x"},
			Packages: []*Package{{Name: "p", Epoch: "2", HasFiles: true, HasDescription: true,
				Requires: []Dep{{Name: "r"}}, Provides: []Dep{{Name: "pr"}}, Conflicts: []Dep{{Name: "co"}},
				Obsoletes: []Dep{{Name: "ob"}}, Recommends: []Dep{{Name: "re"}}, Suggests: []Dep{{Name: "su"}},
				Supplements: []Dep{{Name: "sp"}}, Enhances: []Dep{{Name: "en"}}}, nil},
			Changelog: []Changelog{{Time: time.Date(2024, 2, 29, 12, 0, 0, 5, time.FixedZone("X", 3600)), Author: "A <a@b>", Text: "- fix\n\t\"it\""}},
			Warnings:  []string{"w"}},
		&Spec{Packages: []*Package{}},
	)
	for _, s := range specs {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", s.Path, got, want)
		}
	}
	if _, err := (&Spec{Changelog: []Changelog{{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}).appendJSON(nil); err == nil {
		t.Error("year 10000 encoded; json.Marshal refuses it")
	}
}

func TestAppendJSONStringRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "<", ">", "&", "\"", "\\", "\x00", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\ufffd"}
	for range 20000 {
		var s string
		for range rng.IntN(12) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		checkJSONString(t, s)
	}
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("%q: got %s, want %s", s, got, want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("<a href=\"x\">&amp;</a>\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s)
		if !utf8.Valid(appendJSONString(nil, s)) {
			t.Fatalf("%q: invalid UTF-8 out", s)
		}
	})
}
