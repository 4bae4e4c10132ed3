// Package resolve chooses the packages an install request needs from
// repository metadata: Requires/Provides with version ranges, file
// dependencies, rich (boolean) dependencies, Conflicts and Obsoletes, arch.
// Choices among alternatives follow libsolv's policy (what dnf uses): unit
// propagation first, then for each open requirement best arch, highest
// version per name, drop obsoleted candidates, then name order; a choice
// that leads to a dead end is undone and the next alternative tried.
package resolve

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/rpm"
)

// Package is one candidate package, as repository metadata describes it.
type Package struct {
	Name      string
	Arch      string
	EVR       rpm.EVR
	Provides  []rpm.Dependency
	Requires  []rpm.Dependency
	Conflicts []rpm.Dependency
	Obsoletes []rpm.Dependency
	Files     []string // every packaged path (filelists), for file dependencies
	SourceRPM string
	Href      string // location relative to the repository
	Checksum  string // sha256 of the .rpm
	Size      int64
	Repo      string // where it came from (directory or URL)

	requires  []*Dep
	conflicts []*Dep
	id        int
}

// NEVRA is name-[epoch:]version-release.arch.
func (p *Package) NEVRA() string { return p.Name + "-" + p.EVR.String() + "." + p.Arch }

// FromRepodata converts repository metadata (primary and filelists).
func FromRepodata(pkgs []*repodata.Package, repo string) ([]*Package, error) {
	// XML decoding dominates loading: spread it over the CPUs.
	out := make([]*Package, len(pkgs))
	errs := make([]error, len(pkgs))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(pkgs); i += workers {
				out[i], errs[i] = fromRepodata(pkgs[i], repo)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func fromRepodata(mp *repodata.Package, repo string) (*Package, error) {
	e, err := mp.Decode()
	if err != nil {
		return nil, err
	}
	files, err := filelist(mp.Filelists)
	if err != nil {
		return nil, fmt.Errorf("filelists.xml %s: %w", mp.Href, err)
	}
	if len(files) == 0 {
		files = e.Files
	}
	return &Package{Name: e.Name, Arch: e.Arch, EVR: e.EVR, Provides: e.Provides, Requires: e.Requires,
		Conflicts: e.Conflicts, Obsoletes: e.Obsoletes, Files: files, SourceRPM: e.SourceRPM,
		Href: e.Href, Checksum: e.Checksum, Size: mp.Size, Repo: repo}, nil
}

type provider struct {
	pkg *Package
	dep rpm.Dependency
}

// Pool indexes packages for resolution.
type Pool struct {
	Packages []*Package
	arch     string
	prov     map[string][]provider
	files    map[string][]*Package
	byName   map[string][]*Package
	mu       sync.Mutex
	memo     map[whatKey][]*Package
}

// NewPool indexes pkgs. Packages of an architecture other than arch and
// noarch are left out (arch "" keeps all); source packages never resolve.
func NewPool(pkgs []*Package, arch string) (*Pool, error) {
	p := &Pool{arch: arch, prov: map[string][]provider{}, files: map[string][]*Package{}, byName: map[string][]*Package{},
		memo: map[whatKey][]*Package{}}
	for _, pk := range pkgs {
		if pk.Arch == "src" || pk.Arch == "nosrc" || (arch != "" && pk.Arch != arch && pk.Arch != "noarch") {
			continue
		}
		pk.id = len(p.Packages)
		p.Packages = append(p.Packages, pk)
		pk.requires, pk.conflicts = nil, nil
		for _, d := range pk.Requires {
			if strings.HasPrefix(d.Name, "rpmlib(") {
				continue // provided by rpm itself
			}
			e, err := ParseDep(d)
			if err != nil {
				return nil, fmt.Errorf("%s: requires: %w", pk.NEVRA(), err)
			}
			pk.requires = append(pk.requires, e)
		}
		for _, d := range pk.Conflicts {
			e, err := ParseDep(d)
			if err != nil {
				return nil, fmt.Errorf("%s: conflicts: %w", pk.NEVRA(), err)
			}
			pk.conflicts = append(pk.conflicts, e)
		}
		// Every package provides its own name = EVR, as libsolv adds it.
		self := rpm.Dependency{Name: pk.Name, Flags: rpm.SenseEqual, EVR: pk.EVR}
		p.prov[pk.Name] = append(p.prov[pk.Name], provider{pk, self})
		for _, d := range pk.Provides {
			if d.Name == pk.Name && d.Flags&rpm.SenseSenseMask == rpm.SenseEqual && rpm.Compare(d.EVR, pk.EVR) == 0 {
				continue
			}
			p.prov[d.Name] = append(p.prov[d.Name], provider{pk, d})
		}
		for _, f := range pk.Files {
			p.files[f] = append(p.files[f], pk)
		}
		p.byName[pk.Name] = append(p.byName[pk.Name], pk)
	}
	return p, nil
}

// Overlap reports whether a provide satisfies a requirement: both ranges
// intersect, as rpmdsCompare decides (an unversioned side matches anything).
func Overlap(prov, req rpm.Dependency) bool {
	if !prov.Versioned() || !req.Versioned() {
		return true
	}
	pf, rf := prov.Flags&rpm.SenseSenseMask, req.Flags&rpm.SenseSenseMask
	// A provide without release satisfies any release of its version and
	// vice versa (rpm compares releases only when both have one).
	c := rpm.CompareBound(prov.EVR, req.EVR)
	switch {
	case c < 0:
		return pf&rpm.SenseGreater != 0 || rf&rpm.SenseLess != 0
	case c > 0:
		return pf&rpm.SenseLess != 0 || rf&rpm.SenseGreater != 0
	}
	return (pf&rpm.SenseEqual != 0 && rf&rpm.SenseEqual != 0) ||
		(pf&rpm.SenseLess != 0 && rf&rpm.SenseLess != 0) ||
		(pf&rpm.SenseGreater != 0 && rf&rpm.SenseGreater != 0)
}

// WhatProvides lists the packages satisfying a simple dependency, in pool
// order. Answers are memoised: resolution asks the same questions often.
func (p *Pool) WhatProvides(d rpm.Dependency) []*Package {
	key := whatKey{d.Name, d.Flags & rpm.SenseSenseMask, d.EVR}
	p.mu.Lock()
	c, ok := p.memo[key]
	p.mu.Unlock()
	if ok {
		return c
	}
	c = p.whatProvides(d)
	p.mu.Lock()
	p.memo[key] = c
	p.mu.Unlock()
	return c
}

type whatKey struct {
	name  string
	flags uint32
	evr   rpm.EVR
}

func (p *Pool) whatProvides(d rpm.Dependency) []*Package {
	var out []*Package
	seen := map[*Package]bool{}
	for _, pr := range p.prov[d.Name] {
		if !seen[pr.pkg] && Overlap(pr.dep, d) {
			seen[pr.pkg] = true
			out = append(out, pr.pkg)
		}
	}
	if strings.HasPrefix(d.Name, "/") {
		for _, pk := range p.files[d.Name] {
			if !seen[pk] {
				seen[pk] = true
				out = append(out, pk)
			}
		}
	}
	return out
}

func (p *Pool) provides(pk *Package, d rpm.Dependency) bool {
	for _, q := range p.WhatProvides(d) {
		if q == pk {
			return true
		}
	}
	return false
}

// Request is what to install.
type Request struct {
	// Install lists package names, provides ("name >= 1.2") or file paths.
	Install []string
	// Exclude names packages never chosen; a requirement only they could
	// meet is dropped (a distroless image has no shell even when a
	// package's scriptlet interpreter asks for /bin/sh).
	Exclude []string
	// AssumeProvided names capabilities taken as present without a
	// provider: an escape hatch for packaging bugs, never silent (the
	// image definition lists them).
	AssumeProvided []string
}

// Result is the chosen closure.
type Result struct {
	Packages []*Package            // sorted by name
	Why      map[*Package][]string // the chain that pulled each package in; empty when requested
	pool     *Pool
}

// InstallOrder lists the packages with what they require first (as rpm
// orders a transaction), ties and cycles broken by name: the base layout
// (filesystem's merged-/usr links) lands before the files that go through it.
func (r *Result) InstallOrder() []*Package {
	in := map[*Package]bool{}
	for _, p := range r.Packages {
		in[p] = true
	}
	done := map[*Package]int{} // 1 visiting, 2 done
	var out []*Package
	var visit func(p *Package)
	visit = func(p *Package) {
		if done[p] != 0 {
			return
		}
		done[p] = 1
		var deps []*Package
		for _, d := range p.Requires {
			if strings.HasPrefix(d.Name, "(") || strings.HasPrefix(d.Name, "rpmlib(") {
				continue
			}
			for _, q := range r.pool.WhatProvides(d) {
				if in[q] && q != p {
					deps = append(deps, q)
				}
			}
		}
		sort.Slice(deps, func(i, j int) bool { return lessNEVRA(deps[i], deps[j]) })
		for _, q := range deps {
			visit(q)
		}
		done[p] = 2
		out = append(out, p)
	}
	for _, p := range r.Packages {
		visit(p)
	}
	return out
}

// Error explains an unsatisfiable request.
type Error struct {
	Chain  []string // "hello requires libc.so.6(GLIBC_2.34)(64bit)", ...
	Reason string   // "nothing provides it", "conflicts with ..."
}

func (e *Error) Error() string { return strings.Join(e.Chain, ", ") + ": " + e.Reason }

// ErrTooHard stops a search that backtracks too much.
var ErrTooHard = errors.New("resolve: too many alternatives tried (10000); simplify the request")

type state struct {
	ri        int // next rule to look at
	postponed int // 0: none yet, >0: first postponed rule + 1, -1: deciding all
	chosen    []*Package
	clashers  []*Package // chosen packages with conflicts or obsoletes
	in        []bool     // by package id
	byName    map[string]*Package
	why       map[*Package][]string
}

func (s *state) clone() *state {
	c := &state{ri: s.ri, postponed: s.postponed, chosen: append([]*Package(nil), s.chosen...), clashers: append([]*Package(nil), s.clashers...), in: append([]bool(nil), s.in...),
		byName: make(map[string]*Package, len(s.byName)), why: make(map[*Package][]string, len(s.why))}
	for k, v := range s.byName {
		c.byName[k] = v
	}
	for k, v := range s.why {
		c.why[k] = v
	}
	return c
}

type solver struct {
	sorted   []rule
	pool     *Pool
	steps    int
	excluded map[string]bool
	assumed  map[string]bool
}

// Resolve computes the closure of req.
func (p *Pool) Resolve(req Request) (*Result, error) {
	s := &solver{pool: p, excluded: map[string]bool{}, assumed: map[string]bool{}}
	for _, n := range req.AssumeProvided {
		s.assumed[n] = true
	}
	for _, n := range req.Exclude {
		s.excluded[n] = true
	}
	st := &state{in: make([]bool, len(p.Packages)), byName: map[string]*Package{}, why: map[*Package][]string{}}
	var jobs []job
	for _, arg := range req.Install {
		j, err := p.job(arg)
		if err != nil {
			return nil, err
		}
		j.cands = s.drop(j.cands)
		if len(j.cands) == 0 {
			return nil, &Error{Chain: []string{"request " + arg}, Reason: "only excluded packages match it"}
		}
		jobs = append(jobs, j)
	}
	final, err := s.solve(st, jobs, 0)
	if err != nil {
		return nil, err
	}
	res := &Result{Packages: append([]*Package(nil), final.chosen...), Why: final.why, pool: p}
	sort.Slice(res.Packages, func(i, j int) bool { return lessNEVRA(res.Packages[i], res.Packages[j]) })
	return res, nil
}

func lessNEVRA(a, b *Package) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if c := rpm.Compare(a.EVR, b.EVR); c != 0 {
		return c < 0
	}
	return a.Arch < b.Arch
}

type job struct {
	arg   string
	cands []*Package
}

// job selects what an install argument means, as dnf does: a package
// name first, then a provide, then a file path.
func (p *Pool) job(arg string) (job, error) {
	arg = strings.TrimSpace(arg)
	if pk := p.byName[arg]; len(pk) > 0 {
		// dnf (obsoletes=True) also offers the packages obsoleting the
		// named ones; the policy then prefers the obsoleting package.
		c := append([]*Package(nil), pk...)
		for _, q := range p.Packages {
			for _, o := range q.Obsoletes {
				if o.Name != arg || q.Name == arg {
					continue
				}
				for _, n := range pk {
					if Overlap(rpm.Dependency{Name: n.Name, Flags: rpm.SenseEqual, EVR: n.EVR}, o) {
						c = append(c, q)
						break
					}
				}
			}
		}
		return job{arg, c}, nil
	}
	d := rpm.Dependency{Name: arg}
	if f := strings.Fields(arg); len(f) == 3 {
		e, err := ParseDep(rpm.Dependency{Name: "(" + arg + ")"})
		if err != nil || e.Op != "" {
			return job{}, fmt.Errorf("install %q: not a name, provide or path", arg)
		}
		d = e.Simple
	}
	c := p.WhatProvides(d)
	if len(c) == 0 {
		return job{}, &Error{Chain: []string{"request " + arg}, Reason: "no package matches it"}
	}
	return job{arg, c}, nil
}

const maxSteps = 10000

// solve decides the jobs, then alternates unit propagation and choices
// (depth-first, undoing a choice whose consequences fail).
func (s *solver) solve(st *state, jobs []job, next int) (*state, error) {
	if s.steps++; s.steps > maxSteps {
		return nil, ErrTooHard
	}
	for next < len(jobs) {
		j := jobs[next]
		if s.anyIn(st, j.cands) {
			next++
			continue
		}
		var via []string // requested
		cands := s.viable(st, j.cands)
		if len(cands) == 0 {
			return nil, s.explain(st, []string{"request " + j.arg}, j.cands)
		}
		cands = s.policy(cands)
		var first error
		for _, c := range cands {
			st2 := st.clone()
			s.add(st2, c, via)
			out, err := s.solve(st2, jobs, next+1)
			if err == nil {
				return out, nil
			}
			if err == ErrTooHard {
				return nil, err
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
	if err := s.propagate(st); err != nil {
		return nil, err
	}
	// libsolv's resolve_dependencies: scan the requirement rules in their
	// sorted order, wrapping around. First decide only rules the
	// version/arch/obsoletes pruning narrows to one package and postpone
	// the others; when a whole pass decides nothing, go back to the first
	// postponed rule and decide everything from there with the full policy.
	rules := s.rules()
	if len(rules) == 0 {
		return st, nil
	}
	i, postponed := st.ri, st.postponed
	for n := 0; ; i, n = i+1, n+1 {
		if n >= len(rules) {
			if postponed <= 0 {
				return st, nil
			}
			i, postponed, n = postponed-1, -1, 0
		}
		if i >= len(rules) {
			i = 0
		}
		r := rules[i]
		if !st.in[r.p.id] {
			continue
		}
		sat, cands := s.need(st, r.dep)
		if sat {
			continue
		}
		p := r.p
		via := append(append([]string(nil), st.why[p]...), p.Name+" requires "+r.dep.String())
		v := s.viable(st, cands)
		if len(v) == 0 {
			return nil, s.explain(st, via, cands)
		}
		order := s.policy(v)
		if postponed >= 0 && len(v) > 1 && len(s.prune(v)) > 1 {
			if postponed == 0 {
				postponed = i + 1
			}
			continue
		}
		var first error
		for _, c := range order {
			st2 := st.clone()
			st2.ri, st2.postponed = i+1, postponed
			s.add(st2, c, via)
			out, err := s.solve(st2, jobs, next)
			if err == nil {
				return out, nil
			}
			if err == ErrTooHard {
				return nil, err
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

// propagate adds packages that are the only way to meet a requirement,
// until nothing changes.
func (s *solver) propagate(st *state) error {
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(st.chosen); i++ {
			p := st.chosen[i]
			for _, r := range p.requires {
				sat, cands := s.need(st, r)
				if sat {
					continue
				}
				v := s.viable(st, cands)
				switch len(v) {
				case 0:
					via := append(append([]string(nil), st.why[p]...), p.Name+" requires "+r.String())
					return s.explain(st, via, cands)
				case 1:
					s.add(st, v[0], append(append([]string(nil), st.why[p]...), p.Name+" requires "+r.String()))
					changed = true
				}
			}
		}
	}
	return nil
}

func (s *solver) add(st *state, p *Package, via []string) {
	st.chosen = append(st.chosen, p)
	if len(p.conflicts) > 0 || len(p.Obsoletes) > 0 {
		st.clashers = append(st.clashers, p)
	}
	st.in[p.id] = true
	st.byName[p.Name] = p
	st.why[p] = via
}

func (s *solver) anyIn(st *state, ps []*Package) bool {
	for _, p := range ps {
		if st.in[p.id] {
			return true
		}
	}
	return false
}

// need evaluates a requirement against the chosen set: whether it holds,
// and if not, the packages any one of which would (for "and", those of
// the first unmet part).
func (s *solver) need(st *state, d *Dep) (bool, []*Package) {
	return s.needIn(func(p *Package) bool { return st.in[p.id] }, d)
}

func (s *solver) needIn(in func(*Package) bool, d *Dep) (bool, []*Package) {
	any := func(ps []*Package) bool {
		for _, p := range ps {
			if in(p) {
				return true
			}
		}
		return false
	}
	switch d.Op {
	case "":
		if s.assumed[d.Simple.Name] {
			return true, nil
		}
		c := s.pool.WhatProvides(d.Simple)
		if len(s.excluded) > 0 && len(c) > 0 {
			if c = s.drop(c); len(c) == 0 {
				return true, nil // only excluded packages provide it
			}
		}
		return any(c), c
	case OpAnd:
		for _, a := range d.Args {
			if ok, c := s.needIn(in, a); !ok {
				return false, c
			}
		}
		return true, nil
	case OpOr:
		var all []*Package
		seen := map[*Package]bool{}
		for _, a := range d.Args {
			ok, c := s.needIn(in, a)
			if ok {
				return true, nil
			}
			for _, p := range c {
				if !seen[p] {
					seen[p] = true
					all = append(all, p)
				}
			}
		}
		return false, all
	case OpWith, OpWithout:
		_, c := s.needIn(in, d.Args[0])
		for _, a := range d.Args[1:] {
			_, other := s.needIn(in, a)
			set := map[*Package]bool{}
			for _, p := range other {
				set[p] = true
			}
			var keep []*Package
			for _, p := range c {
				if set[p] == (d.Op == OpWith) {
					keep = append(keep, p)
				}
			}
			c = keep
		}
		return any(c), c
	case OpIf, OpUnless:
		cond, _ := s.needIn(in, d.Args[1])
		if cond == (d.Op == OpIf) {
			return s.needIn(in, d.Args[0])
		}
		if len(d.Args) == 3 {
			return s.needIn(in, d.Args[2])
		}
		return true, nil
	}
	return false, nil
}

// viable drops candidates that cannot join the chosen set.
func (s *solver) viable(st *state, cands []*Package) []*Package {
	var out []*Package
	for _, c := range cands {
		if st.in[c.id] {
			return []*Package{c}
		}
		if s.clash(st, c) == "" {
			out = append(out, c)
		}
	}
	return out
}

// clash says why c cannot be installed next to the chosen set, or "".
func (s *solver) clash(st *state, c *Package) string {
	if q := st.byName[c.Name]; q != nil && q != c {
		return c.NEVRA() + " is another version of " + q.NEVRA()
	}
	inWith := func(p *Package) bool { return st.in[p.id] || p == c }
	for _, d := range c.conflicts {
		if d.Op == "" {
			for _, q := range s.pool.WhatProvides(d.Simple) {
				if q != c && st.in[q.id] {
					return c.NEVRA() + " conflicts with " + d.String() + " provided by " + q.NEVRA()
				}
			}
		} else if ok, _ := s.needIn(func(p *Package) bool { return p != c && inWith(p) }, d); ok {
			return c.NEVRA() + " conflicts with " + d.String()
		}
	}
	for _, o := range c.Obsoletes {
		for _, q := range s.pool.byName[o.Name] {
			if q != c && st.in[q.id] && Overlap(rpm.Dependency{Name: q.Name, Flags: rpm.SenseEqual, EVR: q.EVR}, o) {
				return c.NEVRA() + " obsoletes " + q.NEVRA()
			}
		}
	}
	for _, q := range st.clashers {
		for _, d := range q.conflicts {
			if d.Op == "" {
				if d.Simple.Name != c.Name && !s.namedBy(c, d.Simple.Name) {
					continue
				}
				if s.pool.provides(c, d.Simple) {
					return q.NEVRA() + " conflicts with " + d.String() + " provided by " + c.NEVRA()
				}
			} else if ok, _ := s.needIn(func(p *Package) bool { return p != q && inWith(p) }, d); ok {
				return q.NEVRA() + " conflicts with " + d.String()
			}
		}
		for _, o := range q.Obsoletes {
			if o.Name == c.Name && Overlap(rpm.Dependency{Name: c.Name, Flags: rpm.SenseEqual, EVR: c.EVR}, o) {
				return q.NEVRA() + " obsoletes " + c.NEVRA()
			}
		}
	}
	return ""
}

// namedBy reports whether c could provide name at all (a cheap filter).
func (s *solver) namedBy(c *Package, name string) bool {
	for _, pr := range s.pool.prov[name] {
		if pr.pkg == c {
			return true
		}
	}
	if strings.HasPrefix(name, "/") {
		for _, q := range s.pool.files[name] {
			if q == c {
				return true
			}
		}
	}
	return false
}

// prune is libsolv's policy_filter_unwanted without reordering: best
// architecture, the highest version of each name, and no candidate
// another one obsoletes; the result is in name order.
func (s *solver) prune(c []*Package) []*Package {
	if s.pool.arch != "" {
		var native []*Package
		for _, p := range c {
			if p.Arch == s.pool.arch {
				native = append(native, p)
			}
		}
		// libsolv ignores noarch when pruning by architecture.
		if len(native) > 0 {
			var keep []*Package
			for _, p := range c {
				if p.Arch == s.pool.arch || p.Arch == "noarch" {
					keep = append(keep, p)
				}
			}
			c = keep
		}
	}
	best := map[string]*Package{}
	var names []string
	for _, p := range c {
		b := best[p.Name]
		if b == nil {
			names = append(names, p.Name)
		}
		if b == nil || rpm.Compare(p.EVR, b.EVR) > 0 || (rpm.Compare(p.EVR, b.EVR) == 0 && p.id < b.id) {
			best[p.Name] = p
		}
	}
	sort.Strings(names)
	out := make([]*Package, 0, len(names))
	for _, n := range names {
		p := best[n]
		obsoleted := false
		for _, m := range names {
			q := best[m]
			if q == p {
				continue
			}
			for _, o := range q.Obsoletes {
				if o.Name == p.Name && Overlap(rpm.Dependency{Name: p.Name, Flags: rpm.SenseEqual, EVR: p.EVR}, o) {
					obsoleted = true
				}
			}
		}
		if !obsoleted {
			out = append(out, p)
		}
	}
	return out
}

// policy orders viable candidates as libsolv's policy_filter_unwanted
// does for a choice: prune, then dislike_old_versions (a candidate with a
// newer version of its name in the pool goes last), then
// sort_by_common_dep (among candidates sharing a versioned provide, the
// higher version first). Pruned lower versions follow as fallbacks.
func (s *solver) policy(c []*Package) []*Package {
	out := s.prune(c)
	if len(out) == 0 {
		return nil
	}
	var fresh, old []*Package
	for _, p := range out {
		if s.hasNewer(p) {
			old = append(old, p)
		} else {
			fresh = append(fresh, p)
		}
	}
	out = commonDepOrder(append(fresh, old...))
	kept := map[*Package]bool{}
	for _, p := range out {
		kept[p] = true
	}
	rest := make([]*Package, 0, len(c))
	for _, p := range c {
		if !kept[p] {
			rest = append(rest, p)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		if rest[i].Name != rest[j].Name {
			return rest[i].Name < rest[j].Name
		}
		return rpm.Compare(rest[i].EVR, rest[j].EVR) > 0
	})
	return append(out, rest...)
}

// commonDepOrder is libsolv's sort_by_common_dep: for every provide name
// several candidates carry with "=" (or "<", "<="), candidates with a lower
// version than another get a badness; a stable sort by badness follows.
func commonDepOrder(c []*Package) []*Package {
	if len(c) < 2 {
		return c
	}
	type ent struct {
		i   int
		dep rpm.Dependency
	}
	var ents []ent
	for i, p := range c {
		for _, d := range append([]rpm.Dependency{{Name: p.Name, Flags: rpm.SenseEqual, EVR: p.EVR}}, p.Provides...) {
			f := d.Flags & rpm.SenseSenseMask
			if !d.Versioned() || (f != rpm.SenseEqual && f != rpm.SenseLess && f != rpm.SenseLess|rpm.SenseEqual) {
				continue
			}
			if f == rpm.SenseEqual && isHash(d.EVR.String()) {
				continue
			}
			ents = append(ents, ent{i, d})
		}
	}
	cmp := func(a, b ent) int {
		if a.dep.Name != b.dep.Name {
			return strings.Compare(a.dep.Name, b.dep.Name)
		}
		return -rpm.CompareBound(a.dep.EVR, b.dep.EVR) // higher first
	}
	sort.SliceStable(ents, func(i, j int) bool { return cmp(ents[i], ents[j]) < 0 })
	bad := make([]int, len(c))
	have := false
	run := 0
	for k := range ents {
		if k > 0 && ents[k].dep.Name == ents[k-1].dep.Name {
			if ents[k].i != ents[k-1].i && cmp(ents[k-1], ents[k]) < 0 {
				run++
				have = true
			}
		} else {
			run = 0
		}
		bad[ents[k].i] += run
	}
	if !have {
		return c
	}
	idx := make([]int, len(c))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return bad[idx[a]] < bad[idx[b]] })
	out := make([]*Package, len(c))
	for k, i := range idx {
		out[k] = c[i]
	}
	return out
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

// rule is one requirement with several possible providers, ordered as
// libsolv sorts its rules (solver_unifyrules): by requirer, the one with
// the higher pool index first, then by the provider indexes.
type rule struct {
	p   *Package
	dep *Dep
	key []int
}

// rules returns every pool package's multi-provider requirements, sorted.
// Single-provider requirements are unit rules: propagation decides them.
func (s *solver) rules() []rule {
	if s.sorted != nil {
		return s.sorted
	}
	none := func(*Package) bool { return false }
	out := []rule{}
	for _, p := range s.pool.Packages {
		for _, d := range p.requires {
			_, c := s.needIn(none, d)
			if d.Op != "" {
				c = s.alternatives(d)
			}
			if len(c) < 2 {
				continue
			}
			key := make([]int, len(c))
			for i, q := range c {
				key[i] = q.id
			}
			sort.Ints(key)
			out = append(out, rule{p, d, key})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.p.id != b.p.id {
			return a.p.id > b.p.id
		}
		for k := 0; k < len(a.key) && k < len(b.key); k++ {
			if a.key[k] != b.key[k] {
				return a.key[k] < b.key[k]
			}
		}
		return len(a.key) < len(b.key)
	})
	s.sorted = out
	return out
}

// alternatives lists every package a rich dependency mentions positively.
func (s *solver) alternatives(d *Dep) []*Package {
	if d.Op == "" {
		return s.pool.WhatProvides(d.Simple)
	}
	var out []*Package
	seen := map[*Package]bool{}
	for i, a := range d.Args {
		if (d.Op == OpIf || d.Op == OpUnless) && i == 1 {
			continue
		}
		for _, p := range s.alternatives(a) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// explain builds the error for a requirement nothing viable satisfies.
func (s *solver) explain(st *state, via []string, cands []*Package) error {
	if len(cands) == 0 {
		return &Error{Chain: via, Reason: "nothing provides it"}
	}
	var why []string
	for _, c := range cands {
		if r := s.clash(st, c); r != "" {
			why = append(why, r)
		}
	}
	return &Error{Chain: via, Reason: strings.Join(why, "; ")}
}

func (s *solver) hasNewer(p *Package) bool {
	for _, q := range s.pool.byName[p.Name] {
		if rpm.Compare(q.EVR, p.EVR) > 0 {
			return true
		}
	}
	return false
}

// drop removes excluded packages.
func (s *solver) drop(c []*Package) []*Package {
	if len(s.excluded) == 0 {
		return c
	}
	out := c[:0:0]
	for _, p := range c {
		if !s.excluded[p.Name] {
			out = append(out, p)
		}
	}
	return out
}
