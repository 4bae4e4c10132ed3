package boot

import (
	"strings"
	"testing"
)

func TestParseFactAndStatus(t *testing.T) {
	for _, tc := range []struct {
		in, key, val string
		bad          bool
	}{
		{"kernel.release=6.1.0-56-cloud-amd64", "kernel.release", "6.1.0-56-cloud-amd64", false},
		{`health.x.output="a\nb"`, "health.x.output", "a\nb", false},
		{"root.options=ro,relatime ro,user_xattr", "root.options", "ro,relatime ro,user_xattr", false},
		{"empty=", "empty", "", false},
		{`bad="unterminated`, "", "", true},
		{"=novalue", "", "", true},
		{"no-equals", "", "", true},
	} {
		f, err := parseFact(tc.in)
		if tc.bad != (err != nil) || (!tc.bad && (f.Key != tc.key || f.Value != tc.val)) {
			t.Errorf("parseFact(%q) = %+v, %v", tc.in, f, err)
		}
	}
	if ok, n, _, err := parseStatus("ok facts=21"); !ok || n != 21 || err != nil {
		t.Errorf("ok status: %v %d %v", ok, n, err)
	}
	if ok, _, r, err := parseStatus(`fail reason="no root"`); ok || r != "no root" || err != nil {
		t.Errorf("fail status: %v %q %v", ok, r, err)
	}
	if _, _, _, err := parseStatus("maybe"); err == nil {
		t.Error("bad status accepted")
	}
}

func TestExpectations(t *testing.T) {
	facts := map[string]string{"root.write": "EROFS", "dm.root.status": "0 10032 verity V", "root.options": "ro,relatime ro"}
	for _, tc := range []struct {
		expr string
		met  bool
	}{
		{"root.write=EROFS", true},
		{"root.write=ok", false},
		{"root.write!=ok", true},
		{"dm.root.status~=verity V$", true},
		{"dm.root.status!~verity C", true},
		{"root.options~=^rw", false},
		{"missing=x", false},
		{"missing!=x", false},
	} {
		e, err := ParseExpectation(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.check(facts) == ""; got != tc.met {
			t.Errorf("%s: met=%v, want %v (%s)", tc.expr, got, tc.met, e.check(facts))
		}
	}
	for _, bad := range []string{"novalue", "=x", "k~=("} {
		if _, err := ParseExpectation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Expect("toaster", ""); err == nil {
		t.Error("unknown variant accepted")
	}
}

func TestConsoleFailure(t *testing.T) {
	for line, want := range map[string]string{
		"[    3.1] Kernel panic - not syncing: dm-verity device corrupted": "dm-verity device corrupted",
		"BdsDxe: No bootable option or device was found.":                  "No bootable option",
		"BdsDxe: failed to load Boot0001 ...: Access Denied":               "refused",
		"ordinary line": "",
	} {
		got := consoleFailure(line)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}

func FuzzConsoleLine(f *testing.F) {
	f.Add("KEEL-FACT a=b")
	f.Add(`KEEL-FACT a="\x00"`)
	f.Add("KEEL-STATUS ok facts=3")
	f.Add(`KEEL-STATUS fail reason="x"`)
	f.Fuzz(func(t *testing.T, s string) {
		if i := strings.Index(s, factMarker); i >= 0 {
			parseFact(s[i+len(factMarker):])
		}
		if i := strings.Index(s, statusMarker); i >= 0 {
			parseStatus(s[i+len(statusMarker):])
		}
		if e, err := ParseExpectation(s); err == nil {
			e.check(map[string]string{"a": s})
		}
		consoleFailure(s)
	})
}
