package resolve

// The solver is a port of libsolv's (0.7.23, what dnf 4 uses) decision
// procedure for an install into an empty root: the same rules, in the same
// order, the same watches and propagation, the same conflict analysis and
// clause learning, the same branch bookkeeping and the same final
// minimisation. Choosing exactly as dnf does needs all of it: which
// alternative wins depends on the order decisions are taken and on what a
// conflict teaches, not only on the policy's preferences. Function names
// follow libsolv's src/solver.c so the two can be read side by side.

// Literals are solvable ids: 1 is the system, package i of the pool is
// i+2; a negative literal means "not installed".
const systemSolvable = 1

// rule is a clause (p ∨ w2) or (p ∨ d...), as libsolv stores it: w1 and w2
// are the watched literals, n1 and n2 the next rules on their watch lists.
type rule struct {
	p, w1, w2 int32
	d         []int32 // the literals after p when there are three or more
	n1, n2    int32
	info      ruleInfo
}

type ruleKind uint8

const (
	kindRequires ruleKind = iota + 1
	kindNothingProvides
	kindConflicts
	kindObsoletes
	kindSameName
	kindJob
	kindBest
	kindLearnt
)

// ruleInfo says where a rule came from, to explain failures.
type ruleInfo struct {
	kind ruleKind
	from *Package
	dep  string
	job  int
}

// literals lists a rule's literals in libsolv's FOR_RULELITERALS order.
func (r *rule) literals(buf []int32) []int32 {
	buf = append(buf[:0], r.p)
	if r.d != nil {
		return append(buf, r.d...)
	}
	if r.w2 != 0 {
		buf = append(buf, r.w2)
	}
	return buf
}

type sat struct {
	pool  *Pool
	nsolv int32
	rules []rule // rules[0] is unused, as in libsolv

	pkgRulesEnd, jobRules, jobRulesEnd, learntRules int
	assertions                                      []int

	decisionmap []int32
	decisionq   []int32
	whyq        []int32 // rule that decided; <= 0: -rule of a free choice
	propIndex   int
	watches     []int32 // 2*nsolv, indexed by nsolv+literal
	branches    []int32

	recommended    []bool
	recommendIndex int

	jobs     []job
	excluded map[string]bool
	assumed  map[string]bool
	failed   int   // the rule found false at level 1
	err      error // set while building rules
	seen     []bool
}

func (s *sat) pkg(l int32) *Package {
	if l < 0 {
		l = -l
	}
	return s.pool.Packages[l-2]
}

func (s *sat) isTrue(l int32) bool {
	if l > 0 {
		return s.decisionmap[l] > 0
	}
	return s.decisionmap[-l] < 0
}

func (s *sat) isFalse(l int32) bool {
	if l > 0 {
		return s.decisionmap[l] < 0
	}
	return s.decisionmap[-l] > 0
}

// addRule is solver_addrule: one or two literals become p/w2, more use d.
// Package rules are normalised (binary rules ordered) and dropped when
// they contain both a literal and its negation.
func (s *sat) addRule(p, p2 int32, d []int32, info ruleInfo, pkgRule bool) int {
	if d != nil {
		switch len(d) {
		case 0:
			d = nil
		case 1:
			p2, d = d[0], nil
		}
	}
	if pkgRule {
		if d != nil {
			for _, x := range d {
				if x == -p {
					return 0
				}
			}
		} else {
			if p2 != 0 && p > p2 {
				p, p2 = p2, p
			}
			if p == -p2 {
				return 0
			}
		}
	}
	r := rule{p: p, d: d, w1: p, info: info}
	if d != nil {
		r.w2 = d[0]
	} else {
		r.w2 = p2
	}
	s.rules = append(s.rules, r)
	return len(s.rules) - 1
}

// ruleCmp is unifyrules_sortcmp.
func ruleCmp(a, b *rule) int32 {
	if x := a.p - b.p; x != 0 {
		return x
	}
	switch {
	case a.d == nil && b.d == nil:
		return a.w2 - b.w2
	case a.d == nil:
		if x := a.w2 - b.d[0]; x != 0 {
			return x
		}
		return -1
	case b.d == nil:
		if x := a.d[0] - b.w2; x != 0 {
			return x
		}
		return 1
	}
	for i, bv := range b.d {
		var av int32
		if i < len(a.d) {
			av = a.d[i]
		}
		if x := av - bv; x != 0 {
			return x
		}
	}
	if len(a.d) > len(b.d) {
		return a.d[len(b.d)]
	}
	return 0
}

// makewatches links every rule with two watches, lowest rule first.
func (s *sat) makewatches() {
	s.watches = make([]int32, 2*s.nsolv)
	for i := len(s.rules) - 1; i >= 1; i-- {
		r := &s.rules[i]
		if r.w2 == 0 {
			continue
		}
		r.n1 = s.watches[s.nsolv+r.w1]
		s.watches[s.nsolv+r.w1] = int32(i)
		r.n2 = s.watches[s.nsolv+r.w2]
		s.watches[s.nsolv+r.w2] = int32(i)
	}
}

func (s *sat) addwatches(i int) {
	r := &s.rules[i]
	r.n1 = s.watches[s.nsolv+r.w1]
	s.watches[s.nsolv+r.w1] = int32(i)
	r.n2 = s.watches[s.nsolv+r.w2]
	s.watches[s.nsolv+r.w2] = int32(i)
}

func (s *sat) decide(l int32, level int32, why int32) {
	if l > 0 {
		s.decisionmap[l] = level
	} else {
		s.decisionmap[-l] = -level
	}
	s.decisionq = append(s.decisionq, l)
	s.whyq = append(s.whyq, why)
}

// propagate is libsolv's two-watched-literal unit propagation; it returns
// the index of a rule that became false, or 0.
func (s *sat) propagate(level int32) int {
	w := s.watches
	off := s.nsolv
	for s.propIndex < len(s.decisionq) {
		pkg := -s.decisionq[s.propIndex]
		s.propIndex++
		// rp addresses the link that points at the current rule: the
		// list head, or n1/n2 of the previous rule.
		rp := &w[off+pkg]
		for *rp != 0 {
			ri := *rp
			r := &s.rules[ri]
			var other int32
			var next *int32
			if pkg == r.w1 {
				other, next = r.w2, &r.n1
			} else {
				other, next = r.w1, &r.n2
			}
			if s.isTrue(other) {
				rp = next
				continue
			}
			if r.d != nil {
				var p int32
				if r.p != 0 && r.p != other && !s.isFalse(r.p) {
					p = r.p
				} else {
					for _, x := range r.d {
						if x != other && !s.isFalse(x) {
							p = x
							break
						}
					}
				}
				if p != 0 {
					// Move the watch from pkg to p.
					*rp = *next
					if pkg == r.w1 {
						r.w1 = p
						r.n1 = w[off+p]
					} else {
						r.w2 = p
						r.n2 = w[off+p]
					}
					w[off+p] = ri
					continue
				}
			}
			if s.isFalse(other) {
				return int(ri)
			}
			s.decide(other, level, ri)
			rp = next
		}
	}
	return 0
}

// revert undoes every decision above level.
func (s *sat) revert(level int32) {
	for len(s.decisionq) > 0 {
		v := s.decisionq[len(s.decisionq)-1]
		if v < 0 {
			v = -v
		}
		if l := s.decisionmap[v]; l <= level && l >= -level {
			break
		}
		s.decisionmap[v] = 0
		s.decisionq = s.decisionq[:len(s.decisionq)-1]
		s.whyq = s.whyq[:len(s.whyq)-1]
		s.propIndex = len(s.decisionq)
	}
	for n := len(s.branches); n > 0 && s.branches[n-1] >= level; n = len(s.branches) {
		s.branches = s.branches[:n-int(s.branches[n-2])]
	}
	if s.recommendIndex > len(s.decisionq) {
		s.recommendIndex = -1
	}
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// analyze learns a clause from the false rule c (first unique implication
// point), backjumps and returns the new level and the learnt rule.
func (s *sat) analyze(level int32, c int) (int32, int) {
	var q []int32
	rlevel := int32(1)
	if s.seen == nil {
		s.seen = make([]bool, s.nsolv)
	}
	seen := s.seen
	var p int32
	num, l1num := 0, 0
	idx := len(s.decisionq)
	var buf []int32
	for {
		buf = s.rules[c].literals(buf)
		for _, v := range buf {
			if s.isTrue(v) {
				continue
			}
			vv := abs32(v)
			if seen[vv] {
				continue
			}
			seen[vv] = true
			l := abs32(s.decisionmap[vv])
			switch {
			case l == 1:
				l1num++
			case l == level:
				num++
			default:
				q = append(q, v)
				if l > rlevel {
					rlevel = l
				}
			}
		}
	l1retry:
		if num == 0 {
			if l1num--; l1num == 0 {
				break
			}
		}
		var v, vv int32
		for {
			idx--
			v = s.decisionq[idx]
			vv = abs32(v)
			if seen[vv] {
				break
			}
		}
		seen[vv] = false
		if num != 0 {
			if num--; num == 0 {
				p = -v
				if l1num == 0 {
					break
				}
				for _, x := range q {
					seen[abs32(x)] = false
				}
				l1num++
				goto l1retry
			}
		}
		why := s.whyq[idx]
		if why <= 0 {
			goto l1retry
		}
		c = int(why)
	}
	for i := range seen {
		seen[i] = false
	}
	s.revert(rlevel)
	var ri int
	info := ruleInfo{kind: kindLearnt}
	if len(q) < 2 {
		var d int32
		if len(q) == 1 {
			d = q[0]
		}
		ri = s.addRule(p, d, nil, info, false)
	} else {
		ri = s.addRule(p, 0, q, info, false)
	}
	r := &s.rules[ri]
	if r.w2 != 0 {
		if r.d != nil { // watch2onhighest
			wl := int32(0)
			for _, v := range r.d {
				if l := abs32(s.decisionmap[abs32(v)]); l > wl {
					r.w2, wl = v, l
				}
			}
		}
		s.addwatches(ri)
	} else {
		s.assertions = append(s.assertions, ri)
	}
	return rlevel, ri
}

// setpropagatelearn decides l (unless 0) on a new level and propagates,
// learning and backjumping on conflicts. -1 means unsolvable.
func (s *sat) setpropagatelearn(level int32, l int32, ruleid int) int32 {
	if l != 0 {
		level++
		s.decide(l, level, -int32(ruleid))
	}
	for {
		c := s.propagate(level)
		if c == 0 {
			return level
		}
		if level == 1 {
			s.failed = c
			return -1
		}
		var lr int
		level, lr = s.analyze(level, c)
		s.decide(s.rules[lr].p, level, int32(lr))
	}
}

// selectandinstall orders the candidates by policy, remembers the others
// as a branch, and installs the first.
func (s *sat) selectandinstall(level int32, dq []int32, ruleid int) int32 {
	if len(dq) > 1 {
		dq = s.filterUnwanted(dq, policyChoose)
	}
	if len(dq) > 1 {
		s.branches = append(s.branches, -dq[0])
		s.branches = append(s.branches, dq[1:]...)
		s.branches = append(s.branches, 0, int32(ruleid), int32(len(dq)+4), level)
	}
	return s.setpropagatelearn(level, dq[0], ruleid)
}

func (s *sat) takebranch(pos, end int) int32 {
	level := s.branches[end-1]
	p := s.branches[pos]
	s.branches[pos] = -p
	s.branches[end-1] = 0 // keep this branch through revert
	s.revert(level)
	s.branches[end-1] = level
	// The choice that opened the branch was the first decision reverted.
	why := -s.whyq[:len(s.whyq)+1][len(s.whyq)]
	return s.setpropagatelearn(level, p, int(why))
}

// makeruledecisions decides the system solvable and every assertion on
// level 1; false when two of them contradict.
func (s *sat) makeruledecisions() bool {
	s.decide(systemSolvable, 1, 0)
	for _, ri := range s.assertions {
		r := &s.rules[ri]
		if r.p == 0 || r.w2 != 0 {
			continue
		}
		v := r.p
		vv := abs32(v)
		switch {
		case s.decisionmap[vv] == 0:
			s.decide(v, 1, int32(ri))
		case (v > 0) == (s.decisionmap[vv] > 0):
		default:
			s.failed = ri
			return false
		}
	}
	return true
}

// resolveJobrules installs one candidate of every job not yet met.
func (s *sat) resolveJobrules(level int32) int32 {
	oldlevel := level
	var buf []int32
	for i := s.jobRules; i < s.jobRulesEnd; i++ {
		var dq []int32
		met := false
		for _, l := range s.rules[i].literals(buf) {
			if l < 0 {
				if s.decisionmap[-l] <= 0 {
					met = true
					break
				}
			} else {
				if s.decisionmap[l] > 0 {
					met = true
					break
				}
				if s.decisionmap[l] == 0 {
					dq = append(dq, l)
				}
			}
		}
		if met || len(dq) == 0 {
			continue
		}
		olevel := level
		level = s.selectandinstall(level, dq, i)
		if level <= olevel {
			if level == olevel {
				i--
				continue
			}
			if level < oldlevel {
				return level
			}
			i = s.jobRules - 1
		}
	}
	return level
}

// resolveDependencies scans all rules, wrapping around, for unmet ones
// with several undecided candidates. A first pass only decides rules the
// policy narrows to one package and postpones the rest; then, from the
// first postponed rule, everything is decided with the full policy.
func (s *sat) resolveDependencies(level int32) int32 {
	origlevel := level
	postponed := 0
	var dq []int32
	for i, n := 1, 1; ; i, n = i+1, n+1 {
		if n >= len(s.rules) {
			if postponed <= 0 {
				break
			}
			i, postponed, n = postponed, -1, 1
		}
		if i == len(s.rules) {
			i = 1
		}
		r := &s.rules[i]
		if r.p < 0 && (r.d == nil || s.decisionmap[-r.p] <= 0) {
			continue
		}
		dq = dq[:0]
		if r.d == nil {
			if r.w2 <= 0 || s.decisionmap[r.p] != 0 || s.decisionmap[r.w2] != 0 {
				continue
			}
			dq = append(dq, r.p, r.w2)
		} else {
			if r.p >= 0 {
				if s.decisionmap[r.p] > 0 {
					continue
				}
				if s.decisionmap[r.p] == 0 {
					dq = append(dq, r.p)
				}
			}
			met := false
			for _, p := range r.d {
				if p < 0 {
					if s.decisionmap[-p] <= 0 {
						met = true
						break
					}
				} else {
					if s.decisionmap[p] > 0 {
						met = true
						break
					}
					if s.decisionmap[p] == 0 {
						dq = append(dq, p)
					}
				}
			}
			if met {
				continue
			}
		}
		cand := append([]int32(nil), dq...)
		if len(cand) > 1 && postponed >= 0 {
			cand = s.filterUnwanted(cand, policyChooseNoReorder)
			if len(cand) > 1 {
				if postponed == 0 {
					postponed = i
				}
				continue
			}
		}
		level = s.selectandinstall(level, cand, i)
		if level < origlevel {
			break
		}
		n = 0
	}
	return level
}

// run is solver_run_sat for an install into an empty root without weak
// dependencies; false when the request cannot be met.
func (s *sat) run() bool {
	s.recommendIndex = 0
	if !s.makeruledecisions() {
		return false
	}
	if s.failed = s.propagate(1); s.failed != 0 {
		return false
	}
	level := int32(1)
	systemlevel := level + 1
	for {
		if level < systemlevel {
			olevel := level
			level = s.resolveJobrules(level)
			if level < 0 {
				return false
			}
			if level < olevel {
				continue
			}
			systemlevel = level + 1
		}
		if level < systemlevel {
			systemlevel = level
		}
		olevel := level
		level = s.resolveDependencies(level)
		if level < 0 {
			return false
		}
		if level < olevel {
			continue
		}
		// Minimisation: if an alternative a branch passed over got
		// installed anyway, take that branch instead (the earliest one);
		// likewise for a recommended alternative over an unrecommended
		// choice.
		if len(s.branches) > 0 {
			s.updateRecommended()
			lasti, lastiend := -1, -1
			for endi := len(s.branches); endi > 0; {
				l := s.branches[endi-1]
				starti := endi - int(s.branches[endi-2])
				lastsi := -1
				for i := starti; i < endi-4; i++ {
					p := s.branches[i]
					if p <= 0 {
						continue
					}
					if s.decisionmap[p] > l {
						lasti, lastiend, lastsi = i, endi, -1
						break
					}
					if lastsi < 0 && s.recommended[p] {
						lastsi = i
					}
				}
				if lastsi >= 0 {
					for i := starti; i < endi-4; i++ {
						p := -s.branches[i]
						if p <= 0 || s.decisionmap[p] != l+1 {
							continue
						}
						if !s.recommended[p] {
							lasti, lastiend = lastsi, endi
							break
						}
					}
				}
				endi = starti
			}
			if lasti >= 0 {
				level = s.takebranch(lasti, lastiend)
				if level < 0 {
					return false
				}
				continue
			}
		}
		return true
	}
}

// updateRecommended is policy_update_recommendsmap for plain recommends.
func (s *sat) updateRecommended() {
	if s.recommendIndex < 0 {
		for i := range s.recommended {
			s.recommended[i] = false
		}
		s.recommendIndex = 0
	}
	for ; s.recommendIndex < len(s.decisionq); s.recommendIndex++ {
		p := s.decisionq[s.recommendIndex]
		if p <= systemSolvable {
			continue
		}
		for _, d := range s.pkg(p).Recommends {
			if isRich(d) {
				continue // complex recommends: not modelled
			}
			for _, q := range s.pool.whatProvidesIDs(d) {
				s.recommended[q] = true
			}
		}
	}
}
