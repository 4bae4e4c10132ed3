package resolve

import (
	"sort"
	"strings"
)

// Resolve computes the closure of req as dnf install (best=True,
// install_weak_deps=False, obsoletes=True) would into an empty root.
func (p *Pool) Resolve(req Request) (*Result, error) {
	s := &sat{pool: p, nsolv: int32(len(p.Packages) + 2), rules: make([]rule, 1),
		excluded: map[string]bool{}, assumed: map[string]bool{}}
	for _, n := range req.AssumeProvided {
		s.assumed[n] = true
	}
	for _, n := range req.Exclude {
		s.excluded[n] = true
	}
	var lits [][]int32
	for _, arg := range req.Install {
		j, err := p.job(arg)
		if err != nil {
			return nil, err
		}
		var ids []int32
		for _, c := range j.cands {
			if !s.excluded[c.Name] {
				ids = append(ids, int32(c.id+2))
			}
		}
		if len(ids) == 0 {
			return nil, &Error{Chain: []string{"request " + arg}, Reason: "only excluded packages match it"}
		}
		sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
		s.jobs = append(s.jobs, j)
		lits = append(lits, ids)
	}

	// Package rules for everything the jobs can reach, sorted and unified.
	added := make([]bool, s.nsolv)
	for _, ids := range lits {
		s.addPkgRules(ids, added)
	}
	if s.err != nil {
		return nil, s.err
	}
	s.unify()
	s.pkgRulesEnd = len(s.rules)

	// One job rule per request: install one of its candidates.
	s.jobRules = len(s.rules)
	for i, ids := range lits {
		s.addRule(ids[0], 0, ids[1:], ruleInfo{kind: kindJob, job: i}, false)
	}
	s.jobRulesEnd = len(s.rules)

	// best=True (SOLVER_FORCEBEST): a job may only be met by its best
	// candidates (highest version per name, obsoleting ones preferred).
	for i := s.jobRules; i < s.jobRulesEnd && !req.NoBest; i++ {
		var q []int32
		for _, l := range s.rules[i].literals(nil) {
			if l > 0 {
				q = append(q, l)
			}
		}
		f := s.filterUnwanted(append([]int32(nil), q...), policyRecommend)
		if len(f) == len(q) {
			continue
		}
		info := ruleInfo{kind: kindBest, job: s.rules[i].info.job}
		if len(f) < 3 {
			var p2 int32
			if len(f) == 2 {
				p2 = f[1]
			}
			s.addRule(f[0], p2, nil, info, false)
		} else {
			s.addRule(f[0], 0, f[1:], info, false)
		}
	}

	for i := 1; i < len(s.rules); i++ {
		if r := &s.rules[i]; r.p != 0 && r.w2 == 0 && r.d == nil {
			s.assertions = append(s.assertions, i)
		}
	}
	s.learntRules = len(s.rules)
	s.makewatches()
	s.decisionmap = make([]int32, s.nsolv)
	s.recommended = make([]bool, s.nsolv)
	if !s.run() {
		return nil, s.explain()
	}

	res := &Result{Why: map[*Package][]string{}, pool: p}
	for _, l := range s.decisionq {
		if l > systemSolvable {
			pk := s.pkg(l)
			res.Packages = append(res.Packages, pk)
			res.Why[pk] = s.chain(l)
		}
	}
	sort.Slice(res.Packages, func(i, j int) bool { return lessNEVRA(res.Packages[i], res.Packages[j]) })
	return res, nil
}

// why returns the rule that decided literal l's package.
func (s *sat) why(l int32) *rule {
	v := abs32(l)
	for i, d := range s.decisionq {
		if abs32(d) == v {
			w := abs32(s.whyq[i])
			if w == 0 {
				return nil
			}
			return &s.rules[w]
		}
	}
	return nil
}

// chain is the list of requirements that pulled package l in; empty for
// a requested package.
func (s *sat) chain(l int32) []string {
	var out []string
	seen := map[*Package]bool{}
	for {
		r := s.why(l)
		if r == nil || r.info.kind != kindRequires || seen[r.info.from] {
			break
		}
		from := r.info.from
		seen[from] = true
		out = append([]string{from.Name + " requires " + r.info.dep}, out...)
		l = int32(from.id + 2)
	}
	return out
}

func (s *sat) other(r *rule, from *Package) *Package {
	for _, l := range r.literals(nil) {
		if l != 0 && abs32(l) != systemSolvable && s.pkg(l) != from {
			return s.pkg(l)
		}
	}
	return from
}

// whyNot says why package literal p (decided false) cannot be installed;
// more is the requirement to add to the chain for "nothing provides".
func (s *sat) whyNot(p int32) (reason, more string) {
	pk := s.pkg(p)
	r := s.why(p)
	if r == nil {
		return pk.NEVRA() + " cannot be installed with the rest of the request", ""
	}
	switch r.info.kind {
	case kindNothingProvides:
		return "nothing provides it", r.info.from.Name + " requires " + r.info.dep
	case kindConflicts:
		return r.info.from.NEVRA() + " conflicts with " + r.info.dep + " provided by " + s.other(r, r.info.from).NEVRA(), ""
	case kindObsoletes:
		return r.info.from.NEVRA() + " obsoletes " + s.other(r, r.info.from).NEVRA(), ""
	case kindSameName:
		return pk.NEVRA() + " is another version of " + s.other(r, pk).NEVRA(), ""
	}
	return pk.NEVRA() + " cannot be installed with the rest of the request", ""
}

// explain turns the rule found false into an Error naming the chain.
func (s *sat) explain() error {
	r := &s.rules[s.failed]
	falsePos := func() []int32 {
		var out []int32
		for _, l := range r.literals(nil) {
			if l > systemSolvable {
				out = append(out, l)
			}
		}
		return out
	}
	reasons := func(chain []string, cands []int32) error {
		if len(cands) == 0 {
			return &Error{Chain: chain, Reason: "nothing provides it"}
		}
		if len(cands) == 1 {
			reason, more := s.whyNot(cands[0])
			if more != "" {
				chain = append(chain, more)
			}
			return &Error{Chain: chain, Reason: reason}
		}
		var why []string
		for _, c := range cands {
			reason, more := s.whyNot(c)
			if more != "" {
				reason = more + ": " + reason
			}
			why = append(why, reason)
		}
		return &Error{Chain: chain, Reason: strings.Join(why, "; ")}
	}
	switch r.info.kind {
	case kindJob, kindBest:
		c := falsePos()
		if len(c) == 1 {
			if reason, more := s.whyNot(c[0]); more != "" {
				return &Error{Chain: []string{more}, Reason: reason} // the request itself is the package
			}
		}
		return reasons([]string{"request " + s.jobs[r.info.job].arg}, c)
	case kindRequires:
		from := r.info.from
		chain := append(s.chain(int32(from.id+2)), from.Name+" requires "+r.info.dep)
		var against []string // packages a rich dependency rules out
		for _, l := range r.literals(nil) {
			if l < 0 && -l > systemSolvable && s.pkg(l) != from {
				against = append(against, s.pkg(l).NEVRA())
			}
		}
		if pos := falsePos(); len(pos) == 0 && len(against) > 0 {
			return &Error{Chain: chain, Reason: "it cannot hold with " + strings.Join(against, ", ") + " installed"}
		}
		return reasons(chain, falsePos())
	case kindConflicts, kindObsoletes, kindSameName:
		// Both packages are in; name the one decided last.
		var last int32
		for _, d := range s.decisionq {
			for _, l := range r.literals(nil) {
				if abs32(l) == d {
					last = d
				}
			}
		}
		if last == 0 {
			break
		}
		chain := s.chain(last)
		if w := s.why(last); len(chain) == 0 && w != nil && (w.info.kind == kindJob || w.info.kind == kindBest) {
			chain = []string{"request " + s.jobs[w.info.job].arg}
		}
		var reason string
		switch r.info.kind {
		case kindConflicts:
			reason = r.info.from.NEVRA() + " conflicts with " + r.info.dep + " provided by " + s.other(r, r.info.from).NEVRA()
		case kindObsoletes:
			reason = r.info.from.NEVRA() + " obsoletes " + s.other(r, r.info.from).NEVRA()
		default:
			reason = s.pkg(last).NEVRA() + " is another version of " + s.other(r, s.pkg(last)).NEVRA()
		}
		return &Error{Chain: chain, Reason: reason}
	}
	var req []string
	for _, j := range s.jobs {
		req = append(req, j.arg)
	}
	return &Error{Chain: []string{"request " + strings.Join(req, ", ")},
		Reason: "its requirements conflict: no choice among the providers satisfies them all"}
}
