package rpm

import "testing"

// Vectors re-typed from rpm's own test-suite (tests/rpmvercmp.at), as facts.
var vercmpVectors = []struct {
	a, b string
	want int
}{
	{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
	{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1", "2.0", 1},
	{"2.0.1a", "2.0.1a", 0}, {"2.0.1a", "2.0.1", 1}, {"2.0.1", "2.0.1a", -1},
	{"5.5p1", "5.5p1", 0}, {"5.5p1", "5.5p2", -1}, {"5.5p2", "5.5p1", 1},
	{"5.5p10", "5.5p10", 0}, {"5.5p1", "5.5p10", -1}, {"5.5p10", "5.5p1", 1},
	{"10xyz", "10.1xyz", -1}, {"10.1xyz", "10xyz", 1},
	{"xyz10", "xyz10", 0}, {"xyz10", "xyz10.1", -1}, {"xyz10.1", "xyz10", 1},
	{"xyz.4", "xyz.4", 0}, {"xyz.4", "8", -1}, {"8", "xyz.4", 1},
	{"xyz.4", "2", -1}, {"2", "xyz.4", 1},
	{"5.5p2", "5.6p1", -1}, {"5.6p1", "5.5p2", 1},
	{"5.6p1", "6.5p1", -1}, {"6.5p1", "5.6p1", 1},
	{"6.0.rc1", "6.0", 1}, {"6.0", "6.0.rc1", -1},
	{"10b2", "10a1", 1}, {"10a2", "10b2", -1},
	{"1.0aa", "1.0aa", 0}, {"1.0a", "1.0aa", -1}, {"1.0aa", "1.0a", 1},
	{"10.0001", "10.0001", 0}, {"10.0001", "10.1", 0}, {"10.1", "10.0001", 0},
	{"10.0001", "10.0039", -1}, {"10.0039", "10.0001", 1},
	{"4.999.9", "5.0", -1}, {"5.0", "4.999.9", 1},
	{"20101121", "20101121", 0}, {"20101121", "20101122", -1}, {"20101122", "20101121", 1},
	{"2_0", "2_0", 0}, {"2.0", "2_0", 0}, {"2_0", "2.0", 0},
	{"a", "a", 0}, {"a+", "a+", 0}, {"a+", "a_", 0}, {"a_", "a+", 0},
	{"+a", "+a", 0}, {"+a", "_a", 0}, {"_a", "+a", 0},
	{"+_", "+_", 0}, {"_+", "+_", 0}, {"_+", "_+", 0}, {"+", "_", 0}, {"_", "+", 0},
	{"1.0~rc1", "1.0~rc1", 0}, {"1.0~rc1", "1.0", -1}, {"1.0", "1.0~rc1", 1},
	{"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc2", "1.0~rc1", 1},
	{"1.0~rc1~git123", "1.0~rc1~git123", 0}, {"1.0~rc1~git123", "1.0~rc1", -1}, {"1.0~rc1", "1.0~rc1~git123", 1},
	{"1.0^", "1.0^", 0}, {"1.0^", "1.0", 1}, {"1.0", "1.0^", -1},
	{"1.0^git1", "1.0^git1", 0}, {"1.0^git1", "1.0", 1}, {"1.0", "1.0^git1", -1},
	{"1.0^git1", "1.0^git2", -1}, {"1.0^git2", "1.0^git1", 1},
	{"1.0^git1", "1.01", -1}, {"1.01", "1.0^git1", 1},
	{"1.0^20160101", "1.0^20160101", 0}, {"1.0^20160101", "1.0.1", -1}, {"1.0.1", "1.0^20160101", 1},
	{"1.0^20160101^git1", "1.0^20160101^git1", 0}, {"1.0^20160102", "1.0^20160101^git1", 1},
	{"1.0^20160101^git1", "1.0^20160102", -1},
	{"1.0~rc1^git1", "1.0~rc1^git1", 0}, {"1.0~rc1^git1", "1.0~rc1", 1}, {"1.0~rc1", "1.0~rc1^git1", -1},
	{"1.0^git1~pre", "1.0^git1~pre", 0}, {"1.0^git1", "1.0^git1~pre", 1}, {"1.0^git1~pre", "1.0^git1", -1},
}

func TestVercmpVectors(t *testing.T) {
	for _, v := range vercmpVectors {
		if got := Vercmp(v.a, v.b); got != v.want {
			t.Errorf("Vercmp(%q, %q) = %d, want %d", v.a, v.b, got, v.want)
		}
	}
}

func TestParseEVR(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EVR
		err  bool
	}{
		{"1.2-3", EVR{0, "1.2", "3"}, false},
		{"2:1.2-3.kl1", EVR{2, "1.2", "3.kl1"}, false},
		{"0:2.6.7-3.azl3", EVR{0, "2.6.7", "3.azl3"}, false},
		{"1.2", EVR{0, "1.2", ""}, false},
		{"1.2-rc-4", EVR{0, "1.2-rc", "4"}, false},
		{"x:1", EVR{}, true},
		{"1:", EVR{}, true},
	} {
		got, err := ParseEVR(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseEVR(%q) = %+v, %v; want %+v, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1:1.0-1", "2.0-1", 1},
		{"1.0-1", "1.0-2", -1},
		{"0:1.0-1", "1.0-1", 0},
		{"1.0~rc1-1", "1.0-1", -1},
	} {
		if got := Compare(MustEVR(tc.a), MustEVR(tc.b)); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if CompareBound(MustEVR("1.0-5"), MustEVR("1.0")) != 0 {
		t.Error("a bound without release must match any release")
	}
}

func FuzzVercmp(f *testing.F) {
	for _, v := range vercmpVectors {
		f.Add(v.a, v.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		x, y := Vercmp(a, b), Vercmp(b, a)
		if x != -y {
			t.Fatalf("Vercmp not antisymmetric: (%q,%q)=%d, reversed %d", a, b, x, y)
		}
		if Vercmp(a, a) != 0 {
			t.Fatalf("Vercmp(%q,%q) != 0", a, a)
		}
	})
}

func FuzzParseEVR(f *testing.F) {
	f.Add("1:2.3-4")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEVR(s)
		if err == nil && e.Version == "" {
			t.Fatal("accepted empty version")
		}
	})
}
