package spec

import (
	"math/rand"
	"strings"
	"testing"
)

// headerFields must split exactly as strings.Fields did before it.
func TestHeaderFieldsMatchesFields(t *testing.T) {
	cases := []string{
		" Mon Jan 02 2006 A. Author <a@b.c> - 1.0-1",
		" Mon Jan 02 2006  Two  Spaces\t<x>  ",
		" Mon Jan 2 10:00:00 UTC 2006 Someone - 1",
		" Mon Jan 02",
		"",
		"   ",
		" Mon\u00a0Jan 02 2006 nbsp",
		" Mon Jan 02 2006 Jos\u00e9\u2003Wide",
		" a b c d e f g  h\v\fi\r",
	}
	r := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "b", " ", "  ", "\t", "\v", "\r", "\u00a0", "\u0085", "é", "x"}
	for range 5000 {
		var b strings.Builder
		for range r.Intn(20) {
			b.WriteString(alphabet[r.Intn(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, h := range cases {
		fs := strings.Fields(h)
		f, n, from4, from6 := headerFields(h)
		if n != min(len(fs), 6) {
			t.Fatalf("%q: %d fields, want %d", h, n, min(len(fs), 6))
		}
		for i := range n {
			if f[i] != fs[i] {
				t.Fatalf("%q: field %d = %q, want %q", h, i, f[i], fs[i])
			}
		}
		want4, want6 := "", ""
		if len(fs) > 4 {
			want4 = strings.Join(fs[4:], " ")
		}
		if len(fs) > 6 {
			want6 = strings.Join(fs[6:], " ")
		}
		if from4 != want4 || from6 != want6 {
			t.Fatalf("%q: from4 %q from6 %q, want %q %q", h, from4, from6, want4, want6)
		}
	}
}

// TestLuaVarargSeesGlobalArg: as in rpm's Lua 5.4 (rpm --eval prints 1), a
// nested function(...) has no implicit arg table of its own.
func TestLuaVarargSeesGlobalArg(t *testing.T) {
	m := NewMacros()
	if err := m.Define(`foo() %{lua: local function f(...) return #arg end print(f(1,2,3))}`); err != nil {
		t.Fatal(err)
	}
	got, err := m.Expand("%foo a")
	if err != nil || got != "1" {
		t.Errorf("got %q %v, want 1", got, err)
	}
}
