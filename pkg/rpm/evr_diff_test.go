package rpm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

// TestVercmpDifferential compares Vercmp with rpm's own comparison (rpm.vercmp
// in rpm's embedded Lua) on random versions built from the characters that
// matter to rpmvercmp; there must be no disagreement. rpm 4.18's rpm.vercmp
// parses "[E:]V[-R]" (rpmverCmp), so versions without '-' and ':' exercise
// rpmvercmp alone, and generated E:V-R strings exercise Compare.
func TestVercmpDifferential(t *testing.T) {
	testenv.RequireTool(t, "rpm")
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(4, 18))
	const alphabet = "0123456789aAbzZ.~^_+" + "00011"
	gen := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	type pair struct {
		a, b string
		evr  bool
	}
	pairs := make([]pair, 0, 2*n+len(vercmpVectors))
	for _, v := range vercmpVectors {
		pairs = append(pairs, pair{a: v.a, b: v.b})
	}
	genEVR := func() string {
		s := gen()
		if rng.IntN(2) == 0 {
			s = strconv.Itoa(rng.IntN(3)) + ":" + s
		}
		if rng.IntN(4) > 0 {
			s += "-" + gen()
		}
		return s
	}
	for range n {
		pairs = append(pairs, pair{genEVR(), genEVR(), true})
	}
	for range n {
		a := gen()
		b := a
		if rng.IntN(3) > 0 { // mostly unrelated, sometimes a small edit of a
			b = gen()
		} else {
			i := rng.IntN(len(a))
			b = a[:i] + string(alphabet[rng.IntN(len(alphabet))]) + a[i+1:]
		}
		pairs = append(pairs, pair{a: a, b: b})
	}
	var lua strings.Builder
	lua.WriteString("local p = {\n")
	for _, p := range pairs {
		fmt.Fprintf(&lua, "%q, %q,\n", p.a, p.b)
	}
	lua.WriteString("}\nlocal out = {}\nfor i = 1, #p, 2 do out[#out+1] = tostring(rpm.vercmp(p[i], p[i+1])) end\nprint(table.concat(out, \"\\n\"))\n")
	script := filepath.Join(t.TempDir(), "vercmp.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("rpm", "--eval", "%{lua: dofile('"+script+"')}").Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("rpm printed %d results for %d pairs", len(lines), len(pairs))
	}
	bad := 0
	for i, l := range lines {
		want, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			t.Fatalf("rpm output line %d: %q", i, l)
		}
		got := Vercmp(pairs[i].a, pairs[i].b)
		if pairs[i].evr {
			got = Compare(MustEVR(pairs[i].a), MustEVR(pairs[i].b))
		}
		if got != want {
			bad++
			if bad <= 10 {
				t.Errorf("Vercmp(%q, %q) = %d, rpm says %d", pairs[i].a, pairs[i].b, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d disagreements with rpm in %d pairs", bad, len(pairs))
	}
}
