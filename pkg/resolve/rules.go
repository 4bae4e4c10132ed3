package resolve

import (
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Rule generation: libsolv's src/rules.c (package rules, job rules, best
// rules, unification) and src/cplxdeps.c (rich dependencies to CNF).

// providers answers "who provides d" for one request: a sorted id list,
// or system=true when the dependency needs no package (rpmlib(), assumed
// provided, or only excluded packages provide it).
func (s *sat) providers(d rpm.Dependency) (ids []int32, system bool) {
	if strings.HasPrefix(d.Name, "rpmlib(") || s.assumed[d.Name] {
		return nil, true
	}
	ids = s.pool.whatProvidesIDs(d)
	if len(s.excluded) > 0 && len(ids) > 0 {
		keep := make([]int32, 0, len(ids))
		for _, p := range ids {
			if !s.excluded[s.pkg(p).Name] {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			return nil, true
		}
		ids = keep
	}
	return ids, false
}

// depProviders evaluates a dependency libsolv does not treat as complex:
// a simple one, or or/with/without of such.
func (s *sat) depProviders(d *Dep) ([]int32, bool) {
	switch d.Op {
	case "":
		return s.providers(d.Simple)
	case OpOr:
		var all []int32
		for _, a := range d.Args {
			ids, sys := s.depProviders(a)
			if sys {
				return nil, true
			}
			all = mergeIDs(all, ids)
		}
		return all, false
	case OpWith, OpWithout:
		ids, sys := s.depProviders(d.Args[0])
		if sys {
			return nil, true
		}
		for _, a := range d.Args[1:] {
			other, _ := s.depProviders(a)
			in := map[int32]bool{}
			for _, p := range other {
				in[p] = true
			}
			var keep []int32
			for _, p := range ids {
				if in[p] == (d.Op == OpWith) {
					keep = append(keep, p)
				}
			}
			ids = keep
		}
		return ids, false
	}
	return nil, false
}

func mergeIDs(a, b []int32) []int32 {
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// isComplex is pool_is_complex_dep: and, if and unless, also inside or.
func isComplex(d *Dep) bool {
	switch d.Op {
	case OpAnd, OpIf, OpUnless:
		return true
	case OpOr:
		for _, a := range d.Args {
			if isComplex(a) {
				return true
			}
		}
	}
	return false
}

// Normalisation flags, as in cplxdeps.h.
const (
	cplxToDNF  = 1
	cplxExpand = 2
	cplxInvert = 4
)

// blocks holds clause (CNF) or term (DNF) blocks separated by 0, like
// libsolv's queue; marker (nsolv, index) stands for a provider list not
// yet expanded.
type blocks struct {
	s       *sat
	q       []int32
	markers [][]int32
	tooBig  bool
}

// maxBlockLits bounds the normal form of one rich dependency: distributing
// "or" over "and" grows exponentially, and metadata may be hostile.
const maxBlockLits = 1 << 20

func (b *blocks) expand(start, split int) int {
	end := len(b.q)
	newsplit := 0
	for i := start; i < end; i++ {
		if i == split {
			newsplit = len(b.q) - (end - start)
		}
		x := b.q[i]
		if x == b.s.nsolv {
			i++
			b.q = append(b.q, b.markers[b.q[i]]...)
		} else {
			b.q = append(b.q, x)
		}
	}
	if end == split {
		newsplit = len(b.q) - (end - start)
	}
	b.q = append(b.q[:start], b.q[end:]...)
	return newsplit
}

func (b *blocks) invert(start, r int) int {
	if r == 0 || r == 1 {
		return 1 - r
	}
	b.expand(start, 0)
	j := start
	for i := start; i < len(b.q); i++ {
		if b.q[i] != 0 {
			b.q[i] = -b.q[i]
			continue
		}
		for k := i - 1; j < k; j, k = j+1, k-1 {
			b.q[j], b.q[k] = b.q[k], b.q[j]
		}
		j = i + 1
	}
	return -1
}

func (b *blocks) distribute(bqcnt, bqcnt2, flags int) int {
	bqcnt2 = b.expand(bqcnt, bqcnt2)
	bqcnt3 := len(b.q)
	for i := bqcnt; i < bqcnt2 && !b.tooBig; i++ {
		for j := bqcnt2; j < bqcnt3; j++ {
			if len(b.q) > maxBlockLits {
				b.tooBig = true
				break
			}
			bqcnt4 := len(b.q)
			k := i
			jj := j
			for b.q[k] != 0 && b.q[jj] != 0 {
				if b.q[k] < b.q[jj] {
					b.q = append(b.q, b.q[k])
					k++
				} else {
					if b.q[k] == b.q[jj] {
						k++
					}
					b.q = append(b.q, b.q[jj])
					jj++
				}
			}
			for b.q[jj] != 0 {
				b.q = append(b.q, b.q[jj])
				jj++
			}
			for b.q[k] != 0 {
				b.q = append(b.q, b.q[k])
				k++
			}
			x, y := bqcnt4, len(b.q)-1
			for x < y {
				if -b.q[x] == b.q[y] {
					break
				}
				if -b.q[x] > b.q[y] {
					x++
				} else {
					y--
				}
			}
			if x < y {
				b.q = b.q[:bqcnt4]
			} else {
				b.q = append(b.q, 0)
			}
			// skip to the end of block j
			for b.q[j] != 0 {
				j++
			}
		}
		for b.q[i] != 0 {
			i++
		}
	}
	b.q = append(b.q[:bqcnt], b.q[bqcnt3:]...)
	if bqcnt == len(b.q) {
		if flags&cplxToDNF != 0 {
			return 0
		}
		return 1
	}
	return -1
}

// join combines the blocks two operands left at bqcnt and bqcnt2 (results
// r1, r2: 0 false, 1 true, -1 blocks) into a conjunction or a disjunction,
// distributing when the operator is the opposite of the target form.
func (b *blocks) join(bqcnt, bqcnt2, r1, r2, flags int, conj bool) int {
	absorb, ident := 1, 0 // or: true absorbs, false drops out
	if conj {
		absorb, ident = 0, 1
	}
	if r1 == absorb || r2 == absorb {
		b.q = b.q[:bqcnt]
		return absorb
	}
	if r1 == ident {
		return r2
	}
	if r2 == ident {
		return r1
	}
	if (flags&cplxToDNF != 0) == conj {
		return b.distribute(bqcnt, bqcnt2, flags)
	}
	return -1
}

func (b *blocks) or(d1, d2 *Dep, flags, invflags int) int {
	bqcnt := len(b.q)
	r1 := b.normalize(d1, flags)
	if r1 == 1 {
		return 1
	}
	bqcnt2 := len(b.q)
	r2 := b.normalize(d2, flags^invflags)
	if invflags != 0 {
		r2 = b.invert(bqcnt2, r2)
	}
	return b.join(bqcnt, bqcnt2, r1, r2, flags, false)
}

func (b *blocks) and(d1, d2 *Dep, flags, invflags int) int {
	bqcnt := len(b.q)
	r1 := b.normalize(d1, flags)
	if r1 == 0 {
		return 0
	}
	bqcnt2 := len(b.q)
	r2 := b.normalize(d2, flags^invflags)
	if invflags != 0 {
		r2 = b.invert(bqcnt2, r2)
	}
	return b.join(bqcnt, bqcnt2, r1, r2, flags, true)
}

// ifElse: A IF (B ELSE C) -> (A OR ~B) AND (C OR B).
func (b *blocks) ifElse(a, c, e *Dep, flags int) int {
	bqcnt := len(b.q)
	r1 := b.or(a, c, flags, cplxToDNF)
	if r1 == 0 {
		return 0
	}
	bqcnt2 := len(b.q)
	r2 := b.or(c, e, flags, 0)
	return b.join(bqcnt, bqcnt2, r1, r2, flags, true)
}

// unlessElse: A UNLESS (B ELSE C) -> (A AND ~B) OR (C AND B).
func (b *blocks) unlessElse(a, c, e *Dep, flags int) int {
	bqcnt := len(b.q)
	r1 := b.and(a, c, flags, cplxToDNF)
	if r1 == 1 {
		return 1
	}
	bqcnt2 := len(b.q)
	r2 := b.and(c, e, flags, 0)
	return b.join(bqcnt, bqcnt2, r1, r2, flags, false)
}

// rest is the right-nested remainder of an n-ary and/or, as rpm's rich
// dependency parser nests "a or b or c".
func rest(d *Dep) *Dep {
	if len(d.Args) == 2 {
		return d.Args[1]
	}
	return &Dep{Op: d.Op, Args: d.Args[1:]}
}

// normalize is normalize_dep: 0 no blocks (false), 1 true, -1 blocks.
func (b *blocks) normalize(d *Dep, flags int) int {
	if isComplex(d) {
		switch d.Op {
		case OpIf:
			if len(d.Args) == 3 {
				return b.ifElse(d.Args[0], d.Args[1], d.Args[2], flags)
			}
			return b.or(d.Args[0], d.Args[1], flags, cplxToDNF)
		case OpUnless:
			if len(d.Args) == 3 {
				return b.unlessElse(d.Args[0], d.Args[1], d.Args[2], flags)
			}
			return b.and(d.Args[0], d.Args[1], flags, cplxToDNF)
		case OpOr:
			return b.or(d.Args[0], rest(d), flags, 0)
		case OpAnd:
			return b.and(d.Args[0], rest(d), flags, 0)
		}
	}
	ids, sys := b.s.depProviders(d)
	if sys {
		return 1
	}
	if len(ids) == 0 {
		return 0
	}
	if flags&cplxToDNF != 0 {
		for _, p := range ids {
			b.q = append(b.q, p, 0)
		}
		return -1
	}
	b.markers = append(b.markers, ids)
	b.q = append(b.q, b.s.nsolv, int32(len(b.markers)-1), 0)
	return -1
}

// addComplexRules is add_complex_deprules for requires (CNF) and
// conflicts (inverted DNF).
func (s *sat) addComplexRules(n int32, d *Dep, conflict bool, info ruleInfo, work *[]int32) {
	b := &blocks{s: s}
	flags := 0
	if conflict {
		flags = cplxToDNF | cplxExpand | cplxInvert
	}
	i := b.normalize(d, flags)
	if b.tooBig {
		if s.err == nil {
			verb := " requires "
			if conflict {
				verb = " conflicts with "
			}
			s.err = &Error{Chain: []string{info.from.Name + verb + d.String()}, Reason: "the rich dependency is too complex to expand"}
		}
		return
	}
	if flags&cplxExpand != 0 && i != 0 && i != 1 {
		b.expand(0, 0)
	}
	if flags&cplxInvert != 0 {
		i = b.invert(0, i)
	}
	switch i {
	case 0:
		if !conflict {
			info.kind = kindNothingProvides
		}
		s.addRule(-n, 0, nil, info, true)
		return
	case 1:
		return
	}
	q := b.q
	for i := 0; i < len(q); i++ {
		if q[i] == 0 {
			continue
		}
		if q[i] == s.nsolv {
			dp := b.markers[q[i+1]]
			i += 2
			if containsID(dp, n) {
				continue
			}
			s.addRule(-n, 0, dp, info, true)
			*work = append(*work, dp...)
			continue
		}
		if q[i+1] == 0 {
			p2 := q[i]
			i++
			if -n == p2 {
				if !conflict {
					s.addRule(-n, 0, nil, info, true)
				}
				continue
			}
			if n == p2 {
				continue
			}
			s.addRule(-n, p2, nil, info, true)
			if p2 > 0 {
				*work = append(*work, p2)
			}
			continue
		}
		start := i
		for q[i] != 0 {
			i++
		}
		lits := append([]int32(nil), q[start:i]...)
		pos := sort.Search(len(lits), func(k int) bool { return lits[k] >= -n })
		if pos == len(lits) || lits[pos] != -n {
			lits = append(lits, 0)
			copy(lits[pos+1:], lits[pos:])
			lits[pos] = -n
		}
		if containsID(lits, n) {
			continue
		}
		s.addRule(lits[0], 0, lits[1:], info, true)
		for _, l := range lits {
			if l > 0 {
				*work = append(*work, l)
			}
		}
	}
}

func containsID(l []int32, x int32) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// addPkgRules is solver_addpkgrulesforsolvable over everything reachable
// from the given packages through requires.
func (s *sat) addPkgRules(start []int32, added []bool) {
	work := append([]int32(nil), start...)
	for len(work) > 0 {
		n := work[0]
		work = work[1:]
		if added[n] {
			continue
		}
		added[n] = true
		pk := s.pkg(n)
		for _, d := range pk.requires {
			info := ruleInfo{kind: kindRequires, from: pk, dep: d.String()}
			if isComplex(d) {
				s.addComplexRules(n, d, false, info, &work)
				continue
			}
			dp, sys := s.depProviders(d)
			if sys {
				continue
			}
			if len(dp) == 0 {
				info.kind = kindNothingProvides
				s.addRule(-n, 0, nil, info, true)
				continue
			}
			if containsID(dp, n) {
				continue
			}
			s.addRule(-n, 0, dp, info, true)
			work = append(work, dp...)
		}
		for _, d := range pk.conflicts {
			info := ruleInfo{kind: kindConflicts, from: pk, dep: d.String()}
			if isComplex(d) {
				s.addComplexRules(n, d, true, info, &work)
				continue
			}
			dp, _ := s.depProviders(d)
			for _, p := range dp {
				if p != n { // self-conflicts are allowed (forbidselfconflicts off)
					s.addRule(-n, -p, nil, info, true)
				}
			}
		}
		for _, o := range pk.Obsoletes {
			info := ruleInfo{kind: kindObsoletes, from: pk, dep: o.String()}
			for _, p := range s.pool.whatProvidesIDs(o) {
				ps := s.pkg(p)
				if p != n && ps.Name == o.Name && Overlap(rpm.Dependency{Name: ps.Name, Flags: rpm.SenseEqual, EVR: ps.EVR}, o) {
					s.addRule(-n, -p, nil, info, true)
				}
			}
		}
		for _, q := range s.pool.byName[pk.Name] {
			if p := int32(q.id + 2); p != n {
				s.addRule(-n, -p, nil, ruleInfo{kind: kindSameName, from: pk}, true)
			}
		}
	}
}

// unify sorts the package rules and drops duplicates (solver_unifyrules).
func (s *sat) unify() {
	rs := s.rules[1:]
	sort.Slice(rs, func(i, j int) bool { return ruleCmp(&rs[i], &rs[j]) < 0 })
	out := s.rules[:1]
	for i := 1; i < len(s.rules); i++ {
		if len(out) > 1 && ruleCmp(&s.rules[i], &out[len(out)-1]) == 0 {
			continue
		}
		out = append(out, s.rules[i])
	}
	s.rules = out
}
