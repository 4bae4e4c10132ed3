// Package resolve chooses the packages an install request needs from
// repository metadata: Requires/Provides with version ranges, file
// dependencies, rich (boolean) dependencies, Conflicts and Obsoletes, arch.
// Choices among alternatives are libsolv's (what dnf uses): the solver in
// sat.go, rules.go and policy.go ports its decision procedure, so keel
// picks the same packages as dnf --installroot (see docs/resolve.md).
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
	// Recommends only steer choices among alternatives (libsolv prefers
	// recommended providers even with weak dependencies off).
	Recommends []rpm.Dependency
	Files      []string // every packaged path (filelists), for file dependencies
	SourceRPM  string
	Href       string // location relative to the repository
	Checksum   string // sha256 of the .rpm
	Size       int64
	Repo       string // where it came from (directory or URL)
	// File is the package's local copy when Repo is remote (the download
	// cache's), set once fetched; "" for a directory's package.
	File string

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
		Conflicts: e.Conflicts, Obsoletes: e.Obsoletes, Recommends: e.Recommends, Files: files, SourceRPM: e.SourceRPM,
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
	// Pool order, like libsolv's whatprovides lists.
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// whatProvidesIDs is WhatProvides as solver literals.
func (p *Pool) whatProvidesIDs(d rpm.Dependency) []int32 {
	c := p.WhatProvides(d)
	ids := make([]int32, len(c))
	for i, q := range c {
		ids[i] = int32(q.id + 2)
	}
	return ids
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
	// NoBest is dnf's best=False: a request may be met by an older
	// candidate when the newest cannot be installed. By default (dnf's
	// upstream best=True) the request fails instead.
	NoBest bool
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
