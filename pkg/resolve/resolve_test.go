package resolve

import (
	"strings"
	"testing"

	"github.com/keel-linux/keel/pkg/rpm"
)

func dep(t *testing.T, s string) rpm.Dependency {
	t.Helper()
	if strings.HasPrefix(s, "(") {
		return rpm.Dependency{Name: s}
	}
	f := strings.Fields(s)
	if len(f) == 1 {
		return rpm.Dependency{Name: s}
	}
	d, err := ParseDep(rpm.Dependency{Name: "(" + s + ")"})
	if err != nil {
		t.Fatal(err)
	}
	return d.Simple
}

func pkg(t *testing.T, nevr string, fields ...string) *Package {
	t.Helper()
	i := strings.IndexByte(nevr, '-')
	p := &Package{Name: nevr[:i], Arch: "x86_64", EVR: rpm.MustEVR(nevr[i+1:])}
	for _, f := range fields {
		kind, val, _ := strings.Cut(f, ":")
		switch kind {
		case "R":
			p.Requires = append(p.Requires, dep(t, val))
		case "P":
			p.Provides = append(p.Provides, dep(t, val))
		case "C":
			p.Conflicts = append(p.Conflicts, dep(t, val))
		case "O":
			p.Obsoletes = append(p.Obsoletes, dep(t, val))
		case "F":
			p.Files = append(p.Files, val)
		case "A":
			p.Arch = val
		}
	}
	return p
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkgs    func(t *testing.T) []*Package
		install []string
		want    string // chosen NEVRAs, or the error
	}{
		{"versioned range picks the matching version", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:lib >= 2"), pkg(t, "lib-1-1"), pkg(t, "lib-2-1"), pkg(t, "lib-3-1")}
		}, []string{"app"}, "app-1-1.x86_64 lib-3-1.x86_64"},
		{"upper bound", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:lib < 3"), pkg(t, "lib-1-1"), pkg(t, "lib-2-1"), pkg(t, "lib-3-1")}
		}, []string{"app"}, "app-1-1.x86_64 lib-2-1.x86_64"},
		{"file dependency", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:/bin/sh"), pkg(t, "busybox-1-1", "F:/bin/sh")}
		}, []string{"app"}, "app-1-1.x86_64 busybox-1-1.x86_64"},
		{"or prefers what is already chosen", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(a or b)", "R:b"), pkg(t, "a-1-1"), pkg(t, "b-1-1")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64"},
		{"if without its condition", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(a if b)"), pkg(t, "a-1-1"), pkg(t, "b-1-1")}
		}, []string{"app"}, "app-1-1.x86_64"},
		{"if with its condition", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(a if b)", "R:b"), pkg(t, "a-1-1"), pkg(t, "b-1-1")}
		}, []string{"app"}, "a-1-1.x86_64 app-1-1.x86_64 b-1-1.x86_64"},
		{"with needs one package providing both", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(v with w)"), pkg(t, "a-1-1", "P:v"), pkg(t, "b-1-1", "P:v", "P:w")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64"},
		{"without", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(v without w)"), pkg(t, "a-1-1", "P:v", "P:w"), pkg(t, "b-1-1", "P:v")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64"},
		{"conflict steers the choice", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:v", "C:a"), pkg(t, "a-1-1", "P:v"), pkg(t, "b-1-1", "P:v")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64"},
		{"obsoleting package replaces a requested one", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "old-1-1"), pkg(t, "new-2-1", "O:old < 2", "P:old = 2")}
		}, []string{"old"}, "new-2-1.x86_64"},
		{"backtracks from a dead end", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:v"), pkg(t, "a-1-1", "P:v", "R:missing"), pkg(t, "b-1-1", "P:v")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64"},
		{"arch filter", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:lib"), pkg(t, "lib-1-1", "A:aarch64")}
		}, []string{"app"}, "app requires lib: nothing provides it"},
		{"explains the chain", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:hello"), pkg(t, "hello-1-1", "R:libc.so.6(GLIBC_2.34)(64bit)")}
		}, []string{"app"}, "app requires hello, hello requires libc.so.6(GLIBC_2.34)(64bit): nothing provides it"},
		{"unless without else is libsolv's a-and-not-b", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1", "R:(a unless b)"), pkg(t, "a-1-1"), pkg(t, "b-1-1")}
		}, []string{"app", "b"}, "app requires (a unless b): it cannot hold with b-1-1.x86_64 installed"},
		{"best: the newest candidate or nothing", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "app-1-1"), pkg(t, "app-2-1", "R:missing")}
		}, []string{"app"}, "app requires missing: nothing provides it"},
		{"a choice is undone when the alternative gets in anyway", func(t *testing.T) []*Package {
			// libsolv decides app's (a or b) first (a: name order), then
			// c's requirement pulls b in; minimisation drops a.
			return []*Package{pkg(t, "app-1-1", "R:(a or b)", "R:v"), pkg(t, "a-1-1"), pkg(t, "b-1-1"),
				pkg(t, "c-1-1", "P:v", "R:b"), pkg(t, "d-1-1", "P:v", "R:b")}
		}, []string{"app"}, "app-1-1.x86_64 b-1-1.x86_64 c-1-1.x86_64"},
		{"conflict explained", func(t *testing.T) []*Package {
			return []*Package{pkg(t, "a-1-1", "C:b"), pkg(t, "b-1-1")}
		}, []string{"a", "b"}, "request b: a-1-1.x86_64 conflicts with b provided by b-1-1.x86_64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := NewPool(tc.pkgs(t), "x86_64")
			if err != nil {
				t.Fatal(err)
			}
			res, err := pool.Resolve(Request{Install: tc.install})
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				var n []string
				for _, p := range res.Packages {
					n = append(n, p.NEVRA())
				}
				got = strings.Join(n, " ")
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoBest(t *testing.T) {
	pool, err := NewPool([]*Package{pkg(t, "app-1-1"), pkg(t, "app-2-1", "R:missing")}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pool.Resolve(Request{Install: []string{"app"}, NoBest: true})
	if err != nil || len(res.Packages) != 1 || res.Packages[0].NEVRA() != "app-1-1.x86_64" {
		t.Fatalf("best=False should fall back to app-1: %v %v", res, err)
	}
}

func TestParseDep(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"(a or b)", "(a or b)"},
		{"(a >= 1.2-3 and (b if c else d))", "(a >= 1.2-3 and (b if c else d))"},
		{"(a with b with c)", "(a with b with c)"},
		{"(a unless b else c)", "(a unless b else c)"},
		{"(a or b and c)", "error"},
		{"(a or)", "error"},
		{"(a else b)", "error"},
		{"((a)", "error"},
	} {
		d, err := ParseDep(rpm.Dependency{Name: tc.in})
		got := "error"
		if err == nil {
			got = d.String()
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q (%v)", tc.in, got, tc.want, err)
		}
	}
}

func FuzzParseDep(f *testing.F) {
	for _, s := range []string{"(a or b)", "(a if b else c)", "((a with b) or (c without d))", "(a >= 1:2-3)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDep(rpm.Dependency{Name: s})
		if err != nil {
			return
		}
		// What parses prints back to something that parses the same.
		again, err := ParseDep(rpm.Dependency{Name: d.String()})
		if err != nil || again.String() != d.String() {
			t.Fatalf("%q -> %q -> %v %v", s, d.String(), again, err)
		}
	})
}

func FuzzFilelist(f *testing.F) {
	f.Add([]byte(`<package pkgid="x" name="a" arch="noarch"><version epoch="0" ver="1" rel="1"/><file>/usr/bin/a</file><file type="dir">/usr/share/a</file></package>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		filelist(b)
	})
}

// FuzzRichRules resolves a request whose only package requires and
// conflicts with a fuzzed rich dependency over a few candidates: the CNF
// conversion and the solver must neither panic nor hang.
func FuzzRichRules(f *testing.F) {
	for _, s := range []string{"(a or b)", "(a if b else c)", "((a and b) or (c and d))", "(a unless b else (c with d))",
		"((a or b) and (c or d) and (e if a))", "(a without b)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDep(rpm.Dependency{Name: s})
		if err != nil || d.Op == "" {
			return
		}
		pkgs := []*Package{
			{Name: "app", Arch: "noarch", EVR: rpm.MustEVR("1-1"), Requires: []rpm.Dependency{{Name: s}}, Conflicts: []rpm.Dependency{{Name: s}}},
			{Name: "a", Arch: "noarch", EVR: rpm.MustEVR("1-1"), Provides: []rpm.Dependency{{Name: "d"}}},
			{Name: "b", Arch: "noarch", EVR: rpm.MustEVR("1-1"), Obsoletes: []rpm.Dependency{{Name: "c"}}},
			{Name: "c", Arch: "noarch", EVR: rpm.MustEVR("1-1"), Requires: []rpm.Dependency{{Name: "(a or e)"}}},
			{Name: "e", Arch: "noarch", EVR: rpm.MustEVR("1-1"), Conflicts: []rpm.Dependency{{Name: "a"}}},
		}
		pool, err := NewPool(pkgs, "x86_64")
		if err != nil {
			return
		}
		for _, noBest := range []bool{false, true} {
			pool.Resolve(Request{Install: []string{"app"}, NoBest: noBest})
			pool.Resolve(Request{Install: []string{"app", "b", "c"}, NoBest: noBest})
		}
	})
}
