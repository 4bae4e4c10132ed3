package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/graph"
	"github.com/keel-linux/keel/pkg/source"
	"github.com/keel-linux/keel/pkg/spec"
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

// sourceDateEpoch is the package's SOURCE_DATE_EPOCH: the start (00:00
// UTC) of its newest %changelog day, or keel.yaml's fixed value. rpm dates
// a changelog entry at noon, but rpm only clamps file times that are newer
// than SOURCE_DATE_EPOCH: an epoch later than the build would leave build
// times in the package, so the day's start is used and a future date is
// refused.
func (s *Spec) sourceDateEpoch(cfg distro.SourceDateEpoch, now time.Time) (int64, error) {
	if !cfg.FromChangelog {
		return cfg.Fixed, nil
	}
	if s.ChangelogTime == 0 {
		return 0, fmt.Errorf("%s: no %%changelog entry to take SOURCE_DATE_EPOCH from; add one or set source_date_epoch in keel.yaml", s.Path)
	}
	day := time.Unix(s.ChangelogTime, 0).UTC().Truncate(24 * time.Hour)
	if day.After(now) {
		return 0, fmt.Errorf("%s: the newest %%changelog entry is dated %s, in the future; reproducible builds need a SOURCE_DATE_EPOCH in the past",
			s.Path, day.Format("2006-01-02"))
	}
	return day.Unix(), nil
}

// Dir is the spec's directory (its local sources).
func (s *Spec) Dir() string { return filepath.Dir(s.Path) }

// fromSpec turns a parsed spec into what the planner needs.
func fromSpec(ps *spec.Spec) (*Spec, error) {
	s := &Spec{Path: ps.Path, Name: ps.Name, Epoch: ps.Epoch, Version: ps.Version, Release: ps.Release}
	if s.Epoch == "0" {
		s.Epoch = ""
	}
	if len(ps.Changelog) > 0 {
		s.ChangelogTime = ps.Changelog[0].Time.Unix()
	}
	for _, br := range ps.BuildRequires {
		s.BuildRequires = append(s.BuildRequires, br.Name)
	}
	seen := map[string]bool{}
	for _, p := range ps.Packages {
		s.Binaries = append(s.Binaries, p.Name)
		for _, pr := range p.Provides {
			if !seen[pr.Name] {
				seen[pr.Name] = true
				s.Provides = append(s.Provides, pr.Name)
			}
		}
	}
	path := ps.Path
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

// NewPlan reads every spec of the tree with the native reader (pkg/spec)
// and orders them with the build graph (pkg/graph).
func NewPlan(ctx context.Context, d *distro.Distro) (*Plan, error) {
	paths, err := d.SpecPaths()
	if err != nil {
		return nil, err
	}
	r, err := d.SpecReader()
	if err != nil {
		return nil, err
	}
	parsed, perrs := r.ParseFiles(paths, 0)
	var errs []string
	p := &Plan{Specs: map[string]*Spec{}}
	var good []*spec.Spec
	for i, ps := range parsed {
		if perrs[i] != nil {
			errs = append(errs, perrs[i].Error())
			continue
		}
		s, err := fromSpec(ps)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		p.Specs[s.Name] = s
		good = append(good, ps)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("reading specs:\n  %s", strings.Join(errs, "\n  "))
	}
	g := graph.New(good)
	deps := map[string]map[string]bool{}
	for _, e := range g.Edges {
		if deps[e.From] == nil {
			deps[e.From] = map[string]bool{}
		}
		deps[e.From][e.To] = true
	}
	for name, s := range p.Specs {
		for dep := range deps[name] {
			s.deps = append(s.deps, dep)
		}
		sort.Strings(s.deps)
	}
	layers, err := g.Order()
	if err != nil {
		return nil, fmt.Errorf("build dependency cycle: %w", err)
	}
	p.Layers = layers
	return p, nil
}

// closure returns name's build dependencies, transitively, sorted.
// size is the number of packages planned.
func (p *Plan) size() int {
	n := 0
	for _, l := range p.Layers {
		n += len(l)
	}
	return n
}

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
