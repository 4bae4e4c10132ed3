package assess

// The upgrade half: what moving from one release (or image, or source
// tree) to another changes under a workload, from the artifacts alone.

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/lifecycle"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/srctree"
)

// Risk levels, lowest first.
const (
	RiskNone   = "none"
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// RiskRank orders risk levels (none 0 … high 3; unknown -1).
func RiskRank(level string) int {
	return slices.Index([]string{RiskNone, RiskLow, RiskMedium, RiskHigh}, level)
}

// UpgradeOptions for Upgrade.
type UpgradeOptions struct {
	From, To string
	// Repos are searched for the packages of image manifests outside a
	// release directory (a release's own repo/ is always searched first).
	Repos []string
	// Lifecycle gives support dates; nil: each release's own copy
	// (lifecycle.yaml in the release directory), when it has one.
	Lifecycle *lifecycle.File
	// Workload is a workload image (OCI layout, docker-archive, directory)
	// checked against both sides' base images (keel assess workload);
	// BaseImage names a release's container image ("" the default).
	Workload, BaseImage string
	// Day is when support is judged (default: today, UTC).
	Day time.Time
	// Defines are macros for spec-only source trees ("dist .azl3");
	// FromDefines and ToDefines apply to one side only (a major upgrade:
	// "dist .cm2" before, "dist .azl3" after).
	Defines, FromDefines, ToDefines []string
}

// UpgradeReport is what moving from one release (or image) to another
// changes under a workload.
type UpgradeReport struct {
	From    *side   `json:"from"`
	To      *side   `json:"to"`
	Risk    string  `json:"risk"` // none | low | medium | high: the highest finding
	Summary []Issue `json:"summary"`

	Packages       PackageChanges   `json:"packages"`
	Sonames        []Capability     `json:"sonames_dropped"`
	SymbolVersions []Capability     `json:"symbol_versions_dropped"`
	Config         []ConfigChange   `json:"config_files_changed"`
	Kernels        []KernelUpgrade  `json:"kernels"`
	Sysctl         []SysctlChange   `json:"sysctl_changed"`
	Services       []ServiceChange  `json:"services_changed"`
	Support        *SupportChange   `json:"support,omitempty"`
	Source         *srctree.Diff    `json:"source,omitempty"` // two spec-only source trees
	Workload       *WorkloadOutcome `json:"workload,omitempty"`
}

// Issue is one line of the risk summary.
type Issue struct {
	Risk string `json:"risk"`
	Text string `json:"text"`
}

// PackageChanges are binary packages updated, removed, obsoleted, renamed, added.
type PackageChanges struct {
	Updated int           `json:"updated"`
	Added   []string      `json:"added"`
	Removed []PackageLoss `json:"removed"` // removed, obsoleted or renamed
}

// PackageLoss is a package of the old side the new side does not have.
type PackageLoss struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	// How: removed (nothing replaces it), obsoleted (By's Obsoletes names
	// it) or renamed (By provides the old name).
	How string `json:"how"`
	By  string `json:"by,omitempty"`
}

// Capability is an ELF Provides the new side no longer has: a soname
// (libfoo.so.1()(64bit)) or a symbol version (libc.so.6(GLIBC_2.34)(64bit)).
type Capability struct {
	Name    string `json:"name"`
	Package string `json:"package"` // the old provider
	// Now is the new side's nearest: the same library's other sonames.
	Now []string `json:"now,omitempty"`
}

// ConfigChange is a %config file whose content differs.
type ConfigChange struct {
	Path      string `json:"path"`
	Package   string `json:"package"`
	Change    string `json:"change"` // changed | removed | added
	NoReplace bool   `json:"noreplace,omitempty"`
}

// KernelUpgrade is a kernel package on either side.
type KernelUpgrade struct {
	Package   string            `json:"package"`
	Old       string            `json:"old,omitempty"`
	New       string            `json:"new,omitempty"`
	OldUnameR string            `json:"old_uname_r,omitempty"`
	NewUnameR string            `json:"new_uname_r,omitempty"`
	Changed   int               `json:"options_changed"`
	TurnedOff []string          `json:"options_turned_off"`
	TurnedOn  []string          `json:"options_turned_on"`
	Policy    map[string]string `json:"policy,omitempty"` // policy -> "old → new" verdicts that moved
}

// SysctlChange is a default that moved.
type SysctlChange struct {
	Key  string `json:"key"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	File string `json:"file"` // where the value that wins comes from
}

// ServiceChange is a service an image's definition starts on one side only.
type ServiceChange struct {
	Image   string `json:"image"`
	Service string `json:"service"`
	Change  string `json:"change"` // added | removed
}

// SupportChange is both sides' support dates.
type SupportChange struct {
	Day  string            `json:"day"`
	From lifecycle.Support `json:"from"`
	To   lifecycle.Support `json:"to"`
}

// WorkloadOutcome is whether a workload that passes on the old side still
// passes on the new one (keel assess workload against both).
type WorkloadOutcome struct {
	Image     string  `json:"image"`
	FromBreak int     `json:"from_breaks"`
	ToBreak   int     `json:"to_breaks"`
	New       []Break `json:"new_breaks"`   // breaks on the new side only
	Fixed     []Break `json:"fixed_breaks"` // breaks of the old side the new one does not have
}

// elfCap matches rpm's ELF dependency names: libfoo.so.1()(64bit),
// libc.so.6(GLIBC_2.34)(64bit), ld-linux-x86-64.so.2(GLIBC_2.3).
var elfCap = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([^()\s]+\.so[^()\s]*)\(([^()]*)\)(\(64bit\))?$`)
})

// Upgrade assesses moving from opt.From to opt.To.
func Upgrade(ctx context.Context, opt UpgradeOptions) (*UpgradeReport, error) {
	step := logctx.StartStep(ctx, "assess", "upgrade", "reading both sides", "from", opt.From, "to", opt.To)
	r, err := upgrade(ctx, opt)
	if err != nil {
		step.Fail(err)
		return nil, err
	}
	step.Done("assessed", "risk", r.Risk, "findings", len(r.Summary))
	return r, nil
}

// UpgradeReleases assesses a release being cut (cur, in curDir, its
// manifest not yet written) against the previous one, for its notes.
func UpgradeReleases(ctx context.Context, prevDir string, prev *manifest.Manifest, curDir string, cur *manifest.Manifest, opt UpgradeOptions) (*UpgradeReport, error) {
	a, err := releaseSide(prevDir, prev)
	if err != nil {
		return nil, err
	}
	b, err := releaseSide(curDir, cur)
	if err != nil {
		return nil, err
	}
	return compareSides(ctx, a, b, opt)
}

func upgrade(ctx context.Context, opt UpgradeOptions) (*UpgradeReport, error) {
	a, err := openSide(opt.From, opt.Repos)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	b, err := openSide(opt.To, opt.Repos)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	return compareSides(ctx, a, b, opt)
}

func compareSides(ctx context.Context, a, b *side, opt UpgradeOptions) (*UpgradeReport, error) {
	if (a.Kind == KindSource) != (b.Kind == KindSource) {
		return nil, fmt.Errorf("%s is a %s and %s a %s: compare two source trees, or two releases or images", a.Path, a.Kind, b.Path, b.Kind)
	}
	r := &UpgradeReport{From: a, To: b, Sonames: []Capability{}, SymbolVersions: []Capability{}, Config: []ConfigChange{},
		Kernels: []KernelUpgrade{}, Sysctl: []SysctlChange{}, Services: []ServiceChange{}, Summary: []Issue{}}
	r.Packages.Added, r.Packages.Removed = []string{}, []PackageLoss{}
	if a.Kind == KindSource {
		ta, err := srctree.Read(ctx, a.Path, srctree.Options{Defines: append(slices.Clone(opt.Defines), opt.FromDefines...)})
		if err != nil {
			return nil, err
		}
		tb, err := srctree.Read(ctx, b.Path, srctree.Options{Defines: append(slices.Clone(opt.Defines), opt.ToDefines...)})
		if err != nil {
			return nil, err
		}
		r.Source = srctree.Compare(ta, tb)
		r.support(opt)
		r.summarize()
		return r, nil
	}
	r.packages()
	r.capabilities()
	r.configFiles()
	if err := r.kernels(); err != nil {
		return nil, err
	}
	if err := r.sysctl(); err != nil {
		return nil, err
	}
	r.services()
	r.support(opt)
	if opt.Workload != "" {
		if err := r.workload(ctx, opt); err != nil {
			return nil, err
		}
	}
	r.summarize()
	return r, nil
}

// workload checks the workload against both sides' bases: a break only the
// new side has is what the upgrade would do to it.
func (r *UpgradeReport) workload(ctx context.Context, opt UpgradeOptions) error {
	ba, err := OpenBase(ctx, r.From.Path, opt.BaseImage)
	if err != nil {
		return fmt.Errorf("--from as a workload base: %w", err)
	}
	bb, err := OpenBase(ctx, r.To.Path, opt.BaseImage)
	if err != nil {
		return fmt.Errorf("--to as a workload base: %w", err)
	}
	im, err := OpenImage(ctx, opt.Workload, ba.Info.Arch)
	if err != nil {
		return err
	}
	ra, rb := Check(ctx, ba, im), Check(ctx, bb, im)
	key := func(b Break) string { return b.File + "\x00" + b.Kind + "\x00" + b.Need }
	in := func(bs []Break) map[string]bool {
		m := map[string]bool{}
		for _, b := range bs {
			m[key(b)] = true
		}
		return m
	}
	oldB, newB := in(ra.Breaks), in(rb.Breaks)
	w := &WorkloadOutcome{Image: opt.Workload, FromBreak: len(ra.Breaks), ToBreak: len(rb.Breaks), New: []Break{}, Fixed: []Break{}}
	for _, b := range rb.Breaks {
		if !oldB[key(b)] {
			w.New = append(w.New, b)
		}
	}
	for _, b := range ra.Breaks {
		if !newB[key(b)] {
			w.Fixed = append(w.Fixed, b)
		}
	}
	r.Workload = w
	return nil
}

func (r *UpgradeReport) packages() {
	a, b := r.From, r.To
	obsoletedBy, providedBy := map[string]string{}, map[string]string{}
	for _, k := range b.names() {
		p := b.pkgs[k]
		for _, d := range p.hdr.Obsoletes() {
			obsoletedBy[d.Name] = p.Name
		}
		for _, d := range p.hdr.Provides() {
			if d.Name != p.Name {
				providedBy[d.Name] = p.Name
			}
		}
	}
	newNames := map[string]bool{}
	for _, p := range b.pkgs {
		newNames[p.Name] = true
	}
	for _, k := range a.names() {
		o := a.pkgs[k]
		n, ok := b.pkgs[k]
		switch {
		case ok && n.EVR != o.EVR:
			r.Packages.Updated++
		case ok, newNames[o.Name]: // same name, another arch: not a loss
		case obsoletedBy[o.Name] != "":
			r.Packages.Removed = append(r.Packages.Removed, PackageLoss{Name: o.Name, Old: o.EVR, How: "obsoleted", By: obsoletedBy[o.Name]})
		case providedBy[o.Name] != "":
			r.Packages.Removed = append(r.Packages.Removed, PackageLoss{Name: o.Name, Old: o.EVR, How: "renamed", By: providedBy[o.Name]})
		default:
			r.Packages.Removed = append(r.Packages.Removed, PackageLoss{Name: o.Name, Old: o.EVR, How: "removed"})
		}
	}
	for _, k := range b.names() {
		if _, ok := a.pkgs[k]; !ok && !a.has(b.pkgs[k].Name) {
			r.Packages.Added = append(r.Packages.Added, b.pkgs[k].Name)
		}
	}
}

// capabilities lists the ELF Provides (sonames, symbol versions) of the
// old side that no package of the new side provides.
func (r *UpgradeReport) capabilities() {
	elfProvides := func(s *side) map[string]string {
		out := map[string]string{}
		for _, k := range s.names() {
			for _, d := range s.pkgs[k].hdr.Provides() {
				if elfCap().MatchString(d.Name) {
					if _, ok := out[d.Name]; !ok {
						out[d.Name] = s.pkgs[k].Name
					}
				}
			}
		}
		return out
	}
	old, cur := elfProvides(r.From), elfProvides(r.To)
	// The new side's sonames by library stem (libfoo.so), for "now".
	stems := map[string][]string{}
	for c := range cur {
		if m := elfCap().FindStringSubmatch(c); m != nil && m[2] == "" {
			stems[stem(m[1])] = append(stems[stem(m[1])], m[1])
		}
	}
	for _, c := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[c]; ok {
			continue
		}
		m := elfCap().FindStringSubmatch(c)
		capb := Capability{Name: c, Package: old[c]}
		if m[2] == "" {
			capb.Now = slices.Sorted(slices.Values(stems[stem(m[1])]))
			r.Sonames = append(r.Sonames, capb)
			continue
		}
		// A symbol version whose soname is gone too is said once, by the soname.
		if _, gone := old[m[1]+"()"+m[3]]; gone {
			if _, still := cur[m[1]+"()"+m[3]]; !still {
				continue
			}
		}
		r.SymbolVersions = append(r.SymbolVersions, capb)
	}
}

// stem is a soname without its version: libfoo.so.1 → libfoo.so.
func stem(soname string) string {
	if i := strings.Index(soname, ".so"); i >= 0 {
		return soname[:i+3]
	}
	return soname
}

func (r *UpgradeReport) configFiles() {
	type cf struct {
		pkg, digest string
		noreplace   bool
	}
	configs := func(s *side) map[string]cf {
		out := map[string]cf{}
		for _, k := range s.names() {
			p := s.pkgs[k]
			files, err := p.hdr.Files()
			if err != nil {
				continue
			}
			for _, f := range files {
				if f.Flags&rpm.FileConfig != 0 && !f.IsDir() && !f.IsGhost() {
					out[f.Path] = cf{p.Name, f.Digest, f.Flags&rpm.FileNoReplace != 0}
				}
			}
		}
		return out
	}
	old, cur := configs(r.From), configs(r.To)
	for _, p := range slices.Sorted(maps.Keys(old)) {
		o := old[p]
		n, ok := cur[p]
		switch {
		case !ok:
			r.Config = append(r.Config, ConfigChange{Path: p, Package: o.pkg, Change: "removed"})
		case n.digest != o.digest:
			r.Config = append(r.Config, ConfigChange{Path: p, Package: n.pkg, Change: "changed", NoReplace: n.noreplace})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := old[p]; !ok {
			r.Config = append(r.Config, ConfigChange{Path: p, Package: cur[p].pkg, Change: "added", NoReplace: cur[p].noreplace})
		}
	}
}

func (r *UpgradeReport) kernels() error {
	if err := r.From.readKernels(); err != nil {
		return err
	}
	if err := r.To.readKernels(); err != nil {
		return err
	}
	names := map[string]bool{}
	for n := range r.From.kernels {
		names[n] = true
	}
	for n := range r.To.kernels {
		names[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		o, hadOld := r.From.kernels[n]
		c, hasNew := r.To.kernels[n]
		k := KernelUpgrade{Package: n, Old: o.EVR, New: c.EVR, OldUnameR: o.UnameR, NewUnameR: c.UnameR, TurnedOff: []string{}, TurnedOn: []string{}}
		if hadOld && hasNew {
			ch := kconfig.Diff(o.Config, c.Config)
			k.Changed = len(ch)
			k.TurnedOff = append(k.TurnedOff, srctree.TurnedOff(ch)...)
			for _, x := range ch {
				if (x.New == "y" || x.New == "m") && (x.Old == "" || x.Old == "n") {
					k.TurnedOn = append(k.TurnedOn, x.Option)
				}
			}
			for _, p := range slices.Sorted(maps.Keys(c.Policy)) {
				if ov, ok := o.Policy[p]; ok && ov != c.Policy[p] {
					if k.Policy == nil {
						k.Policy = map[string]string{}
					}
					k.Policy[p] = ov + " → " + c.Policy[p]
				}
			}
		}
		if k.Old == k.New && k.Changed == 0 {
			continue
		}
		r.Kernels = append(r.Kernels, k)
	}
	return nil
}

func (r *UpgradeReport) sysctl() error {
	old, err := r.From.sysctl()
	if err != nil {
		return err
	}
	cur, err := r.To.sysctl()
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		o, n := old[k], cur[k]
		if o.Value == n.Value {
			continue
		}
		file := n.File
		if file == "" {
			file = o.File
		}
		r.Sysctl = append(r.Sysctl, SysctlChange{Key: k, Old: o.Value, New: n.Value, File: file})
	}
	return nil
}

func (r *UpgradeReport) services() {
	images := map[string]bool{}
	for n := range r.From.defs {
		images[n] = true
	}
	for n := range r.To.defs {
		images[n] = true
	}
	for _, im := range slices.Sorted(maps.Keys(images)) {
		o, n := r.From.defs[im].Services, r.To.defs[im].Services
		for _, s := range o {
			if !slices.Contains(n, s) {
				r.Services = append(r.Services, ServiceChange{Image: im, Service: s, Change: "removed"})
			}
		}
		for _, s := range n {
			if !slices.Contains(o, s) {
				r.Services = append(r.Services, ServiceChange{Image: im, Service: s, Change: "added"})
			}
		}
	}
}

// support reads each side's release line in the lifecycle file: the one
// given, else the copy each release carries.
func (r *UpgradeReport) support(opt UpgradeOptions) {
	day := opt.Day
	if day.IsZero() {
		day = time.Now().UTC()
	}
	lf := func(s *side) *lifecycle.File {
		if opt.Lifecycle != nil {
			return opt.Lifecycle
		}
		if s.dir != "" {
			if f, err := lifecycle.Load(s.dir); err == nil && f != nil {
				return f
			}
		}
		return nil
	}
	for _, s := range []*side{r.From, r.To} {
		if s.Version != "" {
			s.Line = lifecycle.LineOf(s.Version)
		}
	}
	fa, fb := lf(r.From), lf(r.To)
	if fb == nil {
		fb = fa
	}
	if fa == nil {
		fa = fb
	}
	if fa == nil || r.From.Line == "" || r.To.Line == "" {
		return
	}
	r.Support = &SupportChange{Day: day.Format(time.DateOnly), From: fa.Status(r.From.Line, day), To: fb.Status(r.To.Line, day)}
}

// summarize ranks the findings: what can break a workload is high (a
// package, soname or symbol version gone; moving to a line past its
// security support), what changes its behaviour is medium (kernel options
// off, sysctl defaults, services, config files, a renamed package), the
// rest low.
func (r *UpgradeReport) summarize() {
	add := func(risk, format string, a ...any) {
		r.Summary = append(r.Summary, Issue{Risk: risk, Text: fmt.Sprintf(format, a...)})
	}
	var removed, replaced []string
	for _, p := range r.Packages.Removed {
		if p.How == "removed" {
			removed = append(removed, p.Name)
		} else {
			replaced = append(replaced, fmt.Sprintf("%s (%s by %s)", p.Name, p.How, p.By))
		}
	}
	if len(removed) > 0 {
		add(RiskHigh, "%d package(s) removed with no replacement: %s", len(removed), list(removed))
	}
	if len(r.Sonames) > 0 {
		var s []string
		for _, c := range r.Sonames {
			s = append(s, c.Name)
		}
		add(RiskHigh, "%d soname(s) dropped — binaries linked to them will not start: %s", len(s), list(s))
	}
	if len(r.SymbolVersions) > 0 {
		var s []string
		for _, c := range r.SymbolVersions {
			s = append(s, c.Name)
		}
		add(RiskHigh, "%d symbol version(s) dropped — binaries importing them will not start: %s", len(s), list(s))
	}
	if su := r.Support; su != nil {
		switch su.To.State {
		case "end-of-life", "security-ended":
			add(RiskHigh, "the target line %s is %s (security support ended %s)", su.To.Line, su.To.State, su.To.SecurityEnd)
		case "unknown":
			add(RiskLow, "the target line %s is not in the lifecycle file", su.To.Line)
		}
		if su.From.State == "end-of-life" || su.From.State == "security-ended" {
			add(RiskLow, "the current line %s is %s since %s: moving is overdue", su.From.Line, su.From.State, su.From.SecurityEnd)
		} else if su.From.State == "supported" && su.From.DaysToSecurityEnd <= 90 && su.From.Line != su.To.Line {
			add(RiskLow, "the current line %s loses security support in %d days (%s)", su.From.Line, su.From.DaysToSecurityEnd, su.From.SecurityEnd)
		}
	}
	if len(replaced) > 0 {
		add(RiskMedium, "%d package(s) obsoleted or renamed: %s", len(replaced), list(replaced))
	}
	for _, k := range r.Kernels {
		switch {
		case k.Old == "":
			add(RiskLow, "kernel package %s added (%s)", k.Package, k.New)
		case k.New == "":
			add(RiskHigh, "kernel package %s removed (was %s)", k.Package, k.Old)
		default:
			if k.OldUnameR != k.NewUnameR {
				add(RiskLow, "kernel %s: %s → %s", k.Package, k.OldUnameR, k.NewUnameR)
			}
			if len(k.TurnedOff) > 0 {
				add(RiskMedium, "kernel %s: %d option(s) turned off: %s", k.Package, len(k.TurnedOff), list(k.TurnedOff))
			}
			for _, p := range slices.Sorted(maps.Keys(k.Policy)) {
				add(RiskMedium, "kernel %s: policy %s: %s", k.Package, p, k.Policy[p])
			}
		}
	}
	if len(r.Sysctl) > 0 {
		var s []string
		for _, c := range r.Sysctl {
			s = append(s, fmt.Sprintf("%s %s → %s", c.Key, orUnset(c.Old), orUnset(c.New)))
		}
		add(RiskMedium, "%d sysctl default(s) changed: %s", len(s), list(s))
	}
	var svcRemoved, svcAdded []string
	for _, s := range r.Services {
		if s.Change == "removed" {
			svcRemoved = append(svcRemoved, s.Image+":"+s.Service)
		} else {
			svcAdded = append(svcAdded, s.Image+":"+s.Service)
		}
	}
	if len(svcRemoved) > 0 {
		add(RiskMedium, "%d service(s) no longer started: %s", len(svcRemoved), list(svcRemoved))
	}
	if len(svcAdded) > 0 {
		add(RiskLow, "%d service(s) newly started: %s", len(svcAdded), list(svcAdded))
	}
	var changedCfg []string
	for _, c := range r.Config {
		if c.Change != "added" {
			changedCfg = append(changedCfg, c.Path)
		}
	}
	if len(changedCfg) > 0 {
		add(RiskMedium, "%d config file(s) changed or removed — local edits need merging (.rpmnew/.rpmsave): %s", len(changedCfg), list(changedCfg))
	}
	if r.Packages.Updated > 0 || len(r.Packages.Added) > 0 {
		add(RiskLow, "%d package(s) updated, %d added", r.Packages.Updated, len(r.Packages.Added))
	}
	if d := r.Source; d != nil {
		if len(d.Binaries) > 0 {
			var s []string
			for _, b := range d.Binaries {
				s = append(s, b.Name)
			}
			add(RiskHigh, "%d binary package(s) no spec builds any more: %s", len(s), list(s))
		}
		for _, k := range d.Kernels {
			if len(k.TurnedOff) > 0 {
				add(RiskMedium, "kernel config %s: %d option(s) turned off: %s", k.Path, len(k.TurnedOff), list(k.TurnedOff))
			}
		}
		if n := d.Counts["cve_patches_dropped"]; n > 0 {
			add(RiskLow, "%d CVE patch(es) dropped (usually fixed upstream by the new version: check)", n)
		}
		add(RiskLow, "%d source package(s) upgraded, %d downgraded, %d added, %d removed", d.Counts["upgraded"], d.Counts["downgraded"], d.Counts["added"], d.Counts["removed"])
		if n := d.Counts["problems"]; n > 0 {
			add(RiskLow, "%d spec(s) read only in part (macros not expandable here): their lines may be incomplete", n)
		}
	}
	if w := r.Workload; w != nil {
		if len(w.New) > 0 {
			var s []string
			for _, b := range w.New {
				s = append(s, b.File+": "+b.Need+" ("+b.Why+")")
			}
			add(RiskHigh, "workload %s: %d break(s) the upgrade brings: %s", w.Image, len(w.New), list(s))
		}
		if w.FromBreak > 0 && len(w.New) == 0 {
			add(RiskLow, "workload %s: %d break(s) on both sides (it does not pass on the current release either)", w.Image, w.ToBreak)
		}
	}
	sort.SliceStable(r.Summary, func(i, j int) bool { return RiskRank(r.Summary[i].Risk) > RiskRank(r.Summary[j].Risk) })
	r.Risk = RiskNone
	for _, s := range r.Summary {
		if RiskRank(s.Risk) > RiskRank(r.Risk) {
			r.Risk = s.Risk
		}
	}
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// list joins at most 8 items, then says how many more.
func list(s []string) string {
	if len(s) > 8 {
		return strings.Join(s[:8], ", ") + fmt.Sprintf(", … (%d more)", len(s)-8)
	}
	return strings.Join(s, ", ")
}

// Notes is the report as the release notes carry it ("Upgrading from the
// previous release").
func (r *UpgradeReport) Notes() *manifest.Upgrading {
	u := &manifest.Upgrading{From: r.From.Version, Risk: r.Risk, Summary: []manifest.UpgradeIssue{}}
	for _, s := range r.Summary {
		u.Summary = append(u.Summary, manifest.UpgradeIssue{Risk: s.Risk, Text: s.Text})
	}
	if r.Support != nil {
		u.EndOfSecuritySupport, u.EndOfLife = r.Support.To.SecurityEnd, r.Support.To.EndOfLife
	}
	return u
}
