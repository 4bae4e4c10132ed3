package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tree builds a root from path -> symlink target ("" for a directory,
// "=content" for a file).
func tree(t *testing.T, entries map[string]string) *os.Root {
	t.Helper()
	dir := t.TempDir()
	for p, v := range entries {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		switch {
		case v == "":
			os.MkdirAll(full, 0o755)
		case strings.HasPrefix(v, "="):
			os.WriteFile(full, []byte(v[1:]), 0o644)
		default:
			if err := os.Symlink(v, full); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestResolve(t *testing.T) {
	host := t.TempDir()
	r := tree(t, map[string]string{
		"usr/lib/os-release": "=ID=keel\n",
		"etc/os-release":     "../usr/lib/os-release",
		"etc/abs":            "/usr/lib/os-release",
		"lib":                "usr/lib",
		"var/run":            "../run",
		"opt/host":           host,
		"opt/d/x":            "../..",
		"opt/d/l":            "x/../..",
		"loop":               "loop",
		"f":                  "=x",
	})
	for _, tc := range []struct{ in, want, err string }{
		{"etc/os-release", "usr/lib/os-release", ""},
		{"/etc/abs", "usr/lib/os-release", ""},
		{"lib/os-release", "usr/lib/os-release", ""},
		{"var/run/x", "run/x", ""},
		{"opt/host/victim", strings.TrimPrefix(host, "/") + "/victim", ""}, // inside the image
		{"opt/d/x", ".", ""},
		{"opt/d/l", "", "/opt/d/l resolves outside the root via /opt/d/l -> x/../.., /opt/d/x -> ../.."},
		{"..", "", "resolves outside the root"},
		{"loop", "", "too many levels"},
		{"f/g", "", "/f is not a directory"},
		{"/", ".", ""},
	} {
		got, err := Resolve(r, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Resolve(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if l, err := FirstLink(r, "/etc/os-release", false); err != nil || l != nil {
		t.Errorf("FirstLink parents of /etc/os-release: %v %v", l, err)
	}
	if l, err := FirstLink(r, "/etc/os-release", true); err != nil || l == nil || l.Path != "/etc/os-release" {
		t.Errorf("FirstLink /etc/os-release: %v %v", l, err)
	}
	if l, _ := FirstLink(r, "/lib/x/y", false); l == nil || l.Path != "/lib" || l.Target != "usr/lib" {
		t.Errorf("FirstLink /lib/x/y: %v", l)
	}
	if p, err := ResolveParent(r, "/opt/host"); err != nil || p != "opt/host" {
		t.Errorf("ResolveParent /opt/host = %q, %v (the link itself)", p, err)
	}
}

func TestEscapes(t *testing.T) {
	r := tree(t, map[string]string{
		"opt/d/x":  "../..",
		"opt/d/l":  "x/../..",
		"a/up":     "../../..",
		"a/ok":     "../opt",
		"a/abs":    "/../../etc",
		"a/dangle": "/nowhere",
	})
	esc, err := Escapes(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range esc {
		got = append(got, e.Error())
	}
	// "/.." is "/" to a chrooted process, but a link that climbs is refused
	// however it starts (as extraction always has).
	want := []string{"/a/abs resolves outside the root via /a/abs -> /../../etc",
		"/a/up resolves outside the root via /a/up -> ../../..",
		"/opt/d/l resolves outside the root via /opt/d/l -> x/../.., /opt/d/x -> ../.."}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Escapes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var ee *EscapeError
	if _, err := Resolve(r, "a/up/x"); !errors.As(err, &ee) {
		t.Errorf("Resolve through an escaping link: %v, want an *EscapeError", err)
	}
}

func TestLchtimesMoveIn(t *testing.T) {
	r := tree(t, map[string]string{"d": "", "d/l": "/etc/passwd"})
	ts := time.Unix(1700000000, 0)
	if err := Lchtimes(r, "d/l", ts); err != nil {
		t.Fatal(err)
	}
	if fi, _ := r.Lstat("d/l"); !fi.ModTime().Equal(ts) {
		t.Errorf("link mtime %v, want %v", fi.ModTime(), ts)
	}
	src := filepath.Join(t.TempDir(), "db")
	os.WriteFile(src, []byte("db"), 0o644)
	if err := MoveIn(src, r, "d/l"); err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadFile("d/l"); err != nil || string(b) != "db" {
		t.Errorf("after MoveIn: %q %v (the link is replaced, not followed)", b, err)
	}
}
