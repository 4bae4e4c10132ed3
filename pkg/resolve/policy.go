package resolve

import (
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Policy: libsolv's src/policy.c, the parts an install from one
// repository of one architecture (plus noarch) reaches. Repository
// priorities, architecture scores, installed packages, favour/disfavour,
// suggests and supplements play no part there and are left out.

type policyMode int

const (
	policyChoose          policyMode = iota // POLICY_MODE_CHOOSE
	policyChooseNoReorder                   // POLICY_MODE_CHOOSE_NOREORDER
	policyRecommend                         // POLICY_MODE_RECOMMEND (best rules)
)

// filterUnwanted is policy_filter_unwanted.
func (s *sat) filterUnwanted(pl []int32, mode policyMode) []int32 {
	if len(pl) > 1 {
		pl = s.pruneToBestVersion(pl)
	}
	if len(pl) > 1 && mode != policyRecommend {
		pl = s.pruneToRecommended(pl)
		if len(pl) > 1 && mode == policyChoose {
			pl = s.dislikeOldVersions(pl)
			pl = s.sortByCommonDep(pl)
		}
	}
	return pl
}

// pruneToBestVersion keeps the highest version of each name (the lowest
// pool index among equals), in name order, then drops what another
// candidate obsoletes.
func (s *sat) pruneToBestVersion(pl []int32) []int32 {
	sort.Slice(pl, func(i, j int) bool {
		a, b := s.pkg(pl[i]), s.pkg(pl[j])
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return pl[i] < pl[j]
	})
	out := pl[:0]
	var best int32
	for _, p := range pl {
		if best == 0 {
			best = p
			continue
		}
		bs, ps := s.pkg(best), s.pkg(p)
		if bs.Name != ps.Name {
			out = append(out, best)
			best = p
			continue
		}
		if rpm.Compare(bs.EVR, ps.EVR) < 0 {
			best = p
		}
	}
	out = append(out, best)
	if len(out) == 2 {
		return s.pruneObsoleted2(out)
	}
	if len(out) > 2 {
		return s.pruneObsoleted(out)
	}
	return out
}

// obsoletesPkg reports whether a obsoletes b (different names, b's NEVR
// inside one of a's Obsoletes).
func obsoletesPkg(a, b *Package) bool {
	if a.Name == b.Name {
		return false
	}
	for _, o := range a.Obsoletes {
		if o.Name == b.Name && Overlap(rpm.Dependency{Name: b.Name, Flags: rpm.SenseEqual, EVR: b.EVR}, o) {
			return true
		}
	}
	return false
}

func (s *sat) pruneObsoleted2(pl []int32) []int32 {
	a, b := s.pkg(pl[0]), s.pkg(pl[1])
	ab, ba := obsoletesPkg(a, b), obsoletesPkg(b, a)
	switch {
	case ab == ba:
		return pl
	case ba:
		return pl[1:]
	}
	return pl[:1]
}

// pruneObsoleted is prune_obsoleted: Tarjan's SCC walk over "obsoletes"
// among the candidates; only the strongly connected components nothing
// else obsoletes survive.
func (s *sat) pruneObsoleted(pl []int32) []int32 {
	n := len(pl)
	low := make([]int32, n)
	stack := make([]int32, 2*n+2)
	idx, nstack, firstidx := int32(1), int32(0), int32(0)
	var visit func(node int)
	visit = func(node int) {
		myidx := idx
		low[node] = myidx
		idx++
		stackstart := nstack
		stack[nstack] = int32(node)
		nstack++
		sp := s.pkg(pl[node])
		for _, o := range sp.Obsoletes {
			for _, p := range s.pool.whatProvidesIDs(o) {
				ps := s.pkg(p)
				if ps.Name == sp.Name || !Overlap(rpm.Dependency{Name: ps.Name, Flags: rpm.SenseEqual, EVR: ps.EVR}, o) || ps.Name != o.Name {
					continue
				}
				for i := 0; i < n; i++ {
					if i == node || pl[i] != p {
						continue
					}
					l := low[i]
					if l == 0 {
						if len(ps.Obsoletes) == 0 {
							idx++
							low[i] = -1
							continue
						}
						visit(i)
						l = low[i]
					}
					if l < 0 {
						continue
					}
					if l < firstidx {
						for k := l; ; k++ {
							if low[stack[k]] == l {
								low[stack[k]] = -1
							} else {
								break
							}
						}
					} else if l < low[node] {
						low[node] = l
					}
				}
			}
		}
		if low[node] == myidx {
			if myidx != firstidx {
				myidx = -1
			}
			for i := stackstart; i < nstack; i++ {
				low[stack[i]] = myidx
			}
			nstack = stackstart
		}
	}
	// libsolv indexes its stack by idx; mimic with an offset table.
	for i := 0; i < n; i++ {
		if low[i] != 0 {
			continue
		}
		if len(s.pkg(pl[i]).Obsoletes) > 0 {
			firstidx, nstack = idx, idx
			visit(i)
		} else {
			low[i] = idx
			stack[idx] = int32(i)
			idx++
		}
	}
	out := pl[:0]
	for i, p := range pl {
		if low[i] >= 0 {
			out = append(out, p)
		}
	}
	return out
}

// pruneToRecommended keeps the recommended candidates, if any.
func (s *sat) pruneToRecommended(pl []int32) []int32 {
	s.updateRecommended()
	var out []int32
	for _, p := range pl {
		if s.recommended[p] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return pl
	}
	return out
}

// dislikeOldVersions moves candidates with a newer same-name, same-arch
// package in the pool to the back.
func (s *sat) dislikeOldVersions(pl []int32) []int32 {
	var good, bad []int32
	for _, p := range pl {
		ps := s.pkg(p)
		old := false
		for _, q := range s.pool.byName[ps.Name] {
			if q != ps && q.Arch == ps.Arch && rpm.Compare(q.EVR, ps.EVR) > 0 {
				old = true
				break
			}
		}
		if old {
			bad = append(bad, p)
		} else {
			good = append(good, p)
		}
	}
	return append(good, bad...)
}

type commonDep struct {
	i    int
	name string
	evr  rpm.EVR
	lt   bool // a "<" provide: libsolv stores its evr negated
}

func commonDepCmp(a, b *commonDep) int {
	if a.name != b.name {
		if a.name < b.name {
			return -1
		}
		return 1
	}
	if a.lt == b.lt && a.evr == b.evr {
		return 0
	}
	r := rpm.CompareBound(b.evr, a.evr)
	if r == 0 && (a.lt || b.lt) {
		if !b.lt {
			return 1
		}
		if !a.lt {
			return -1
		}
	}
	return r
}

// sortByCommonDep is sort_by_common_dep: among candidates sharing a
// versioned provide ("=", "<", "<="), those with lower versions get a
// badness per better one; a stable sort by badness follows.
func (s *sat) sortByCommonDep(pl []int32) []int32 {
	var ents []commonDep
	for i, p := range pl {
		for _, d := range s.pkg(p).provides() {
			f := d.Flags & rpm.SenseSenseMask
			if !d.Versioned() || (f != rpm.SenseEqual && f != rpm.SenseLess|rpm.SenseEqual && f != rpm.SenseLess) {
				continue
			}
			if f == rpm.SenseEqual && isHash(d.EVR.String()) {
				continue
			}
			ents = append(ents, commonDep{i, d.Name, d.EVR, f == rpm.SenseLess})
		}
	}
	if len(ents) < 2 {
		return pl
	}
	sort.SliceStable(ents, func(i, j int) bool { return commonDepCmp(&ents[i], &ents[j]) < 0 })
	badness := make([]int, len(pl))
	bad, have := 0, false
	for k := range ents {
		if k > 0 && ents[k].name == ents[k-1].name {
			if ents[k].i != ents[k-1].i && commonDepCmp(&ents[k-1], &ents[k]) == -1 {
				bad++
				have = true
			}
		} else {
			bad = 0
		}
		badness[ents[k].i] += bad
	}
	if !have {
		return pl
	}
	idx := make([]int, len(pl))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return badness[idx[a]] < badness[idx[b]] })
	out := make([]int32, len(pl))
	for k, i := range idx {
		out[k] = pl[i]
	}
	return out
}

// provides is the package's provides with its own "name = EVR" once, as
// libsolv stores them.
func (p *Package) provides() []rpm.Dependency {
	for _, d := range p.Provides {
		if d.Name == p.Name && d.Flags&rpm.SenseSenseMask == rpm.SenseEqual && rpm.Compare(d.EVR, p.EVR) == 0 {
			return p.Provides
		}
	}
	return append(append([]rpm.Dependency(nil), p.Provides...), rpm.Dependency{Name: p.Name, Flags: rpm.SenseEqual, EVR: p.EVR})
}

func isHash(s string) bool {
	if len(s) < 4 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'f' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func isRich(d rpm.Dependency) bool { return strings.HasPrefix(d.Name, "(") }
