package spec

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

// TestBadInput: every spec under testdata/bad is refused by keel with a
// file:line error, and by rpmspec too.
func TestBadInput(t *testing.T) {
	specs, _ := filepath.Glob("testdata/bad/*.spec")
	if len(specs) == 0 {
		t.Fatal("no testdata/bad specs")
	}
	r, err := NewReader(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, rpmErr := exec.LookPath("rpmspec")
	for _, f := range specs {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := r.ParseFile(f)
			if err == nil {
				t.Fatal("keel accepted it")
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != f || !strings.HasPrefix(err.Error(), f+":") {
				t.Errorf("error %q does not name the file", err)
			}
			if pe != nil && pe.Line == 0 && !strings.Contains(err.Error(), "must be present") && !strings.Contains(err.Error(), "no %description") {
				t.Errorf("error %q has no line", err)
			}
			if rpmErr == nil {
				if out, err := exec.Command("rpmspec", "-q", f).CombinedOutput(); err == nil {
					t.Errorf("rpmspec accepts it: %s", out)
				}
			}
		})
	}
}

func TestExpandLimits(t *testing.T) {
	m := NewMacros()
	for _, def := range []string{"loop %{loop}", "a %{b}", "b %{a}", "bomb %{b2}%{b2}%{b2}%{b2}%{b2}%{b2}%{b2}%{b2}", "b2 %{b3}%{b3}%{b3}%{b3}%{b3}%{b3}%{b3}%{b3}",
		"b3 %{b4}%{b4}%{b4}%{b4}%{b4}%{b4}%{b4}%{b4}", "b4 %{b5}%{b5}%{b5}%{b5}%{b5}%{b5}%{b5}%{b5}", "b5 %{b6}%{b6}%{b6}%{b6}%{b6}%{b6}%{b6}%{b6}",
		"b6 %{b7}%{b7}%{b7}%{b7}%{b7}%{b7}%{b7}%{b7}", "b7 %{b8}%{b8}%{b8}%{b8}%{b8}%{b8}%{b8}%{b8}", "b8 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} {
		if err := m.Define(def); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []string{"%{loop}", "%{a}", "%{bomb}", "%{lua: while true do end}"} {
		if testing.Short() && strings.Contains(in, "while") {
			continue
		}
		if _, err := m.Expand(in); err == nil {
			t.Errorf("%s: expanded without error", in)
		}
	}
}

func TestExpandTable(t *testing.T) {
	m := NewMacros()
	for _, d := range []string{"name foo", "ver 1.2.3", "p(ab:) [%{-a}|%{-b*}|%#|%*]", "empty %{nil}", "nil %{!?nil}"} {
		if err := m.Define(d); err != nil {
			t.Fatal(err)
		}
	}
	m.Undefine("nil")
	m.table["nil"] = &macroDef{name: "nil", body: ""}
	for _, tc := range []struct{ in, want string }{
		{"%name-%{ver}", "foo-1.2.3"},
		{"%%name", "%name"},
		{"%{?name:yes}%{!?name:no}", "yes"},
		{"%{?nope:yes}%{!?nope:no}", "no"},
		{"%{nope}", "%{nope}"},
		{"%p -a -b x y z", "[-a|x|2|y z]"},
		{"%{p:-b q r}", "[| q r|0|]"},
		{"%{expand:%%{name}}", "foo"},
		{"%[1 + 2 * 3]", "7"},
		{`%[v"1.10" > v"1.9"]`, "1"},
		{`%{lua: print(rpm.expand("%{name}") .. "!")}`, "foo!"},
		{"%{basename:/a/b.c} %{dirname:/a/b.c} %{suffix:b.tar.gz}", "b.c /a gz"},
		{"%{shrink:  a   b }", "a b"},
		{"%{undefine:name}%{?name}", ""},
	} {
		got, err := m.Expand(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDeps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"a, b >= 1.0 c", []string{"a", "b >= 1.0", "c"}, false},
		{"(a or (b and c >= 2)) d", []string{"(a or (b and c >= 2))", "d"}, false},
		{"foo == 1", []string{"foo = 1"}, false},
		{"foo >=", nil, true},
		{"(a frob b)", nil, true},
		{"(a or b", nil, true},
		{"-x", nil, true},
		{"/usr/bin/x >= 1", nil, true},
	} {
		ds, err := ParseDeps(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.String())
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q want %q", tc.in, got, tc.want)
		}
	}
}

// TestChangelogText compares authors and texts with rpmspec.
func TestChangelogText(t *testing.T) {
	const f = "testdata/oracle/deps2.spec"
	testenv.RequireTool(t, "rpmspec")
	out, err := exec.Command("rpmspec", "-q", "--srpm", "--qf", "[%{changelogname}\x1e%{changelogtext}\x1f]", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewReader(Options{})
	s, err := r.ParseFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range s.Changelog {
		got = append(got, c.Author+"\x1e"+c.Text)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\x1f"), "\x1f")
	if strings.Join(got, "\x1f") != strings.Join(want, "\x1f") {
		t.Errorf("changelog:\nkeel    %q\nrpmspec %q", got, want)
	}
}

// TestLuaSandbox: a spec's Lua may read files but not write, run commands
// or print to keel's own stdout.
func TestLuaSandbox(t *testing.T) {
	dir := t.TempDir()
	m := NewMacros()
	ok := filepath.Join(dir, "version.txt")
	if err := os.WriteFile(ok, []byte("1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := m.Expand(`%{lua: local f = io.open("` + ok + `"); print(f:read("*l")); f:close()}`)
	if err != nil || got != "1.2.3" {
		t.Errorf("reading a file: %q %v", got, err)
	}
	for _, src := range []string{
		`io.open("` + filepath.Join(dir, "x") + `", "w")`,
		`os.execute("true")`,
		`io.popen("id")`,
		`os.remove("` + ok + `")`,
		`io.write("x")`,
	} {
		if _, err := m.Expand("%{lua: " + src + "}"); err == nil {
			t.Errorf("%s: allowed", src)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("file written")
	}
	if _, err := os.Stat(ok); err != nil {
		t.Error("file removed")
	}
}

// TestParseFilesConcurrent parses the corpus on several goroutines (run with
// -race): clones share the base context, the Lua pool and the shell memo.
func TestParseFilesConcurrent(t *testing.T) {
	specs, _ := filepath.Glob("testdata/oracle/*.spec")
	r, err := NewReader(Options{Shell: ShellRun, Defines: []string{"_sourcedir " + mustAbs("testdata/oracle")}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := 0; i < 4; i++ {
		paths = append(paths, specs...)
	}
	got, errs := r.ParseFiles(paths, 4)
	for i := range paths {
		if errs[i] != nil {
			t.Fatalf("%s: %v", paths[i], errs[i])
		}
		if i >= len(specs) && got[i].EVR() != got[i%len(specs)].EVR() {
			t.Errorf("%s: %s vs %s", paths[i], got[i].EVR(), got[i%len(specs)].EVR())
		}
	}
}
