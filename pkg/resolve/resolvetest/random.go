package resolvetest

import (
	"fmt"
	"math/rand"
)

// Random returns n interrelated package specs from a fixed seed: plain,
// versioned, virtual and file dependencies, rich ones (or, and, if/else,
// unless, with, without), alternatives with several providers, packages
// in two versions, recommends, obsoletes and conflicts.
func Random(seed int64, n int) []Spec { return random(seed, n, 14, true) }

// RandomSimple is Random without conditional rich dependencies, obsoletes
// and conflicts: plain, versioned, virtual, file and "or" dependencies.
func RandomSimple(seed int64, n int) []Spec { return random(seed, n, 7, false) }

func random(seed int64, n, kinds int, clashes bool) []Spec {
	r := rand.New(rand.NewSource(seed))
	name := func(i int) string { return fmt.Sprintf("p%03d", i) }
	later := func(i int) int {
		if i >= n-1 {
			return n - 1
		}
		return i + 1 + r.Intn(min(n-1-i, 25))
	}
	nVirt, nTool := n/10+1, n/15+1
	var specs []Spec
	for i := 0; i < n; i++ {
		versions := []string{"1.0"}
		if r.Intn(5) == 0 {
			versions = append(versions, "2.0")
		}
		for _, v := range versions {
			s := Spec{Name: name(i), Version: v, Release: "1", Files: map[string]string{fmt.Sprintf("/usr/share/%s/%s", name(i), v): name(i) + "\n"}}
			if r.Intn(4) == 0 {
				k := r.Intn(nVirt)
				s.Provides = append(s.Provides, fmt.Sprintf("virt%d = %d", k, 1+r.Intn(3)))
			}
			if r.Intn(6) == 0 {
				s.Files[fmt.Sprintf("/usr/bin/tool%d", r.Intn(nTool))] = "#!/bin/sh\n"
			}
			if i+1 < n {
				for k := r.Intn(4); k > 0; k-- {
					a, b, c := name(later(i)), name(later(i)), name(later(i))
					var d string
					switch r.Intn(kinds) {
					case 0, 1, 2:
						d = a
					case 3:
						d = a + " >= 1.0"
					case 4:
						d = fmt.Sprintf("virt%d", r.Intn(nVirt))
					case 5:
						d = fmt.Sprintf("/usr/bin/tool%d", r.Intn(nTool))
					case 6:
						d = "(" + a + " or " + b + ")"
					case 7:
						d = "(" + a + " if " + b + ")"
					case 8:
						d = "(" + a + " if " + b + " else " + c + ")"
					case 9:
						d = "(" + a + " unless " + b + ")"
					case 10:
						d = fmt.Sprintf("(virt%d without %s)", r.Intn(nVirt), a)
					case 11:
						d = "(" + a + " and " + b + ")"
					case 12:
						d = "(" + a + " or (" + b + " and " + c + "))"
					case 13:
						d = a + " < 2.0"
					}
					s.Requires = append(s.Requires, d)
				}
			}
			if clashes && r.Intn(8) == 0 && i+1 < n {
				if r.Intn(2) == 0 {
					s.Recommends = append(s.Recommends, name(later(i)))
				} else {
					s.Recommends = append(s.Recommends, fmt.Sprintf("virt%d", r.Intn(nVirt)))
				}
			}
			if clashes && r.Intn(25) == 0 && i > 0 {
				s.Obsoletes = append(s.Obsoletes, name(r.Intn(i))+" < 2.0")
			}
			if clashes && r.Intn(30) == 0 {
				s.Conflicts = append(s.Conflicts, name(later(i)))
			}
			specs = append(specs, s)
		}
	}
	// Providers of virtuals and tools that nobody else gives.
	for k := 0; k < nVirt; k++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("virt%d-impl", k), Version: "1.0", Release: "1", Provides: []string{fmt.Sprintf("virt%d = 1", k)}})
	}
	for k := 0; k < nTool; k++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("tool%d", k), Version: "1.0", Release: "1", Files: map[string]string{fmt.Sprintf("/usr/bin/tool%d", k): "#!/bin/sh\n"}})
	}
	return specs
}
