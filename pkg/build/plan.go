package build

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/source"
)

// Spec is what the planner needs to know about one source package.
type Spec struct {
	Name          string   `json:"name"`
	Epoch         string   `json:"epoch,omitempty"`
	Version       string   `json:"version"`
	Release       string   `json:"release"`
	Path          string   `json:"path"`
	Binaries      []string `json:"binaries"`
	Provides      []string `json:"provides"`
	BuildRequires []string `json:"buildrequires,omitempty"`
	ChangelogTime int64    `json:"changelog_time"`
	Type          string   `json:"type"` // source.TypeSource or source.TypeImported

	manifest *source.Manifest
	deps     []string // names of source packages providing BuildRequires
}

// EVR renders [epoch:]version-release.
func (s *Spec) EVR() string {
	if s.Epoch != "" && s.Epoch != "0" {
		return s.Epoch + ":" + s.Version + "-" + s.Release
	}
	return s.Version + "-" + s.Release
}

// Dir is the spec's directory (its local sources).
func (s *Spec) Dir() string { return filepath.Dir(s.Path) }

// querySpec reads one spec with rpmspec. A native reader replaces this
// (pkg/spec); the query is kept to two rpmspec runs per spec.
func querySpec(ctx context.Context, d *distro.Distro, path string) (*Spec, error) {
	home, err := os.MkdirTemp("", "keel-rpmspec-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	args := func(extra ...string) []string {
		a := []string{"-q"}
		for _, m := range d.RPMMacros() {
			a = append(a, "--define", m.Name+" "+m.Value)
		}
		return append(append(a, extra...), path)
	}
	run := func(a []string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "rpmspec", a...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = err.Error()
			}
			return nil, fmt.Errorf("%s: %s", path, msg)
		}
		return out, nil
	}
	src, err := run(args("--srpm", "--qf", "S %{name}|%{epoch}|%{version}|%{release}|%{changelogtime}\n[B %{requirename}\n]"))
	if err != nil {
		return nil, err
	}
	bin, err := run(args("--qf", "N %{name}\n[P %{providename}\n]"))
	if err != nil {
		return nil, err
	}
	s := &Spec{Path: path}
	sc := bufio.NewScanner(bytes.NewReader(append(src, bin...)))
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "S":
			f := strings.Split(rest, "|")
			if len(f) != 5 {
				return nil, fmt.Errorf("%s: unexpected rpmspec output %q", path, line)
			}
			s.Name, s.Epoch, s.Version, s.Release = f[0], f[1], f[2], f[3]
			if s.Epoch == "(none)" {
				s.Epoch = ""
			}
			if f[4] != "(none)" {
				s.ChangelogTime, _ = strconv.ParseInt(f[4], 10, 64)
			}
		case "B":
			if !strings.HasPrefix(rest, "rpmlib(") {
				s.BuildRequires = append(s.BuildRequires, rest)
			}
		case "N":
			s.Binaries = append(s.Binaries, rest)
		case "P":
			if !seen[rest] {
				seen[rest] = true
				s.Provides = append(s.Provides, rest)
			}
		}
	}
	// rpm leaves an unknown macro in place; a '%' surviving expansion in a
	// name, version or dependency is almost always a typo or a missing define.
	fields := map[string][]string{"Name": {s.Name}, "Version": {s.Version}, "Release": {s.Release},
		"BuildRequires": s.BuildRequires, "Provides": s.Provides, "package name": s.Binaries}
	for _, f := range []string{"Name", "Version", "Release", "package name", "BuildRequires", "Provides"} {
		for _, v := range fields[f] {
			if i := strings.IndexByte(v, '%'); i >= 0 {
				return nil, fmt.Errorf("%s:%d: %s %q contains the unexpanded macro %q: unknown macro (define it in keel.yaml's macros or the spec)",
					path, lineOf(path, v[i:]), f, v, macroAt(v[i:]))
			}
		}
	}
	if want := strings.TrimSuffix(filepath.Base(path), ".spec"); s.Name != want {
		return nil, fmt.Errorf("%s: Name is %q; a spec must live at SPECS/<Name>/<Name>.spec", path, s.Name)
	}
	m, err := source.LoadManifest(filepath.Dir(path), s.Name)
	if err != nil {
		return nil, err
	}
	s.manifest, s.Type = m, m.Type
	return s, nil
}

// Plan is the distribution's packages in build order.
type Plan struct {
	Specs  map[string]*Spec `json:"-"`
	Layers [][]string       `json:"layers"` // each layer builds after the previous one; within a layer, in parallel
}

// NewPlan reads every spec of the tree and orders them by BuildRequires.
func NewPlan(ctx context.Context, d *distro.Distro) (*Plan, error) {
	paths, err := d.SpecPaths()
	if err != nil {
		return nil, err
	}
	p := &Plan{Specs: map[string]*Spec{}}
	type res struct {
		s   *Spec
		err error
	}
	results := make([]res, len(paths))
	sem := make(chan struct{}, 4)
	done := make(chan struct{})
	for i, path := range paths {
		go func(i int, path string) {
			sem <- struct{}{}
			s, err := querySpec(ctx, d, path)
			<-sem
			results[i] = res{s, err}
			done <- struct{}{}
		}(i, path)
	}
	for range paths {
		<-done
	}
	var errs []string
	providers := map[string][]string{}
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err.Error())
			continue
		}
		p.Specs[r.s.Name] = r.s
		for _, pr := range r.s.Provides {
			providers[pr] = append(providers[pr], r.s.Name)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("reading specs:\n  %s", strings.Join(errs, "\n  "))
	}
	for _, s := range p.Specs {
		set := map[string]bool{}
		for _, br := range s.BuildRequires {
			switch provs := providers[br]; {
			case len(provs) > 1:
				sort.Strings(provs)
				errs = append(errs, fmt.Sprintf("%s: BuildRequires %q is provided by several packages (%s); require one by name", s.Path, br, strings.Join(provs, ", ")))
			case len(provs) == 1 && provs[0] != s.Name:
				set[provs[0]] = true
			}
			// Anything else is a host tool (gcc, make, go): the build
			// root is the host, read-only, inside the sandbox.
		}
		for dep := range set {
			s.deps = append(s.deps, dep)
		}
		sort.Strings(s.deps)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("planning builds:\n  %s", strings.Join(errs, "\n  "))
	}
	layers, err := topoLayers(p.Specs)
	if err != nil {
		return nil, err
	}
	p.Layers = layers
	return p, nil
}

// topoLayers is Kahn's algorithm with sorted layers; a cycle is reported
// with its chain.
func topoLayers(specs map[string]*Spec) ([][]string, error) {
	indeg := map[string]int{}
	rdeps := map[string][]string{}
	for n, s := range specs {
		indeg[n] += 0
		for _, d := range s.deps {
			indeg[n]++
			rdeps[d] = append(rdeps[d], n)
		}
	}
	var layers [][]string
	var cur []string
	for n, d := range indeg {
		if d == 0 {
			cur = append(cur, n)
		}
	}
	done := 0
	for len(cur) > 0 {
		sort.Strings(cur)
		layers = append(layers, cur)
		done += len(cur)
		var next []string
		for _, n := range cur {
			for _, r := range rdeps[n] {
				indeg[r]--
				if indeg[r] == 0 {
					next = append(next, r)
				}
			}
		}
		cur = next
	}
	if done != len(specs) {
		return nil, fmt.Errorf("build dependency cycle: %s", findCycle(specs, indeg))
	}
	return layers, nil
}

func findCycle(specs map[string]*Spec, indeg map[string]int) string {
	var start string
	for n, d := range indeg {
		if d > 0 && (start == "" || n < start) {
			start = n
		}
	}
	seen := map[string]int{}
	var path []string
	n := start
	for {
		if i, ok := seen[n]; ok {
			return strings.Join(append(path[i:], n), " -> ")
		}
		seen[n] = len(path)
		path = append(path, n)
		next := ""
		for _, d := range specs[n].deps {
			if indeg[d] > 0 {
				next = d
				break
			}
		}
		if next == "" {
			return strings.Join(path, " -> ")
		}
		n = next
	}
}

// closure returns name's build dependencies, transitively, sorted.
func (p *Plan) closure(name string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, d := range p.Specs[n].deps {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(name)
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Select narrows the plan to the named packages and their build dependencies.
func (p *Plan) Select(names []string) error {
	if len(names) == 0 {
		return nil
	}
	keep := map[string]bool{}
	for _, n := range names {
		if _, ok := p.Specs[n]; !ok {
			return fmt.Errorf("no package %q in this tree (see `keel graph`)", n)
		}
		keep[n] = true
		for _, d := range p.closure(n) {
			keep[d] = true
		}
	}
	var layers [][]string
	for _, l := range p.Layers {
		var nl []string
		for _, n := range l {
			if keep[n] {
				nl = append(nl, n)
			}
		}
		if len(nl) > 0 {
			layers = append(layers, nl)
		}
	}
	p.Layers = layers
	return nil
}

// macroAt returns the macro reference at the start of s ("%{foo}" or "%foo").
func macroAt(s string) string {
	if strings.HasPrefix(s, "%{") {
		if j := strings.IndexByte(s, '}'); j > 0 {
			return s[:j+1]
		}
	}
	end := 1
	for end < len(s) && (s[end] == '_' || s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z' || s[end] >= '0' && s[end] <= '9') {
		end++
	}
	return s[:end]
}

// lineOf finds the first line of the spec mentioning the macro (0 if none).
func lineOf(path, frag string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	m := macroAt(frag)
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, m) {
			return i + 1
		}
	}
	return 0
}
