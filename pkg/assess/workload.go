// Package assess answers "will my workload run on this release?" from
// release artifacts alone: a workload image's ELF files, scripts, entry
// point and user are checked against a base image root as glibc's loader
// and the kernel would check them (pkg/ldso), without running anything.
package assess

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-linux/keel/pkg/ldso"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/oci"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/rpmdb"
)

// Kinds of break.
const (
	KindInterpreter = "interpreter"    // PT_INTERP missing
	KindSoname      = "soname"         // a DT_NEEDED no search finds
	KindVersion     = "symbol-version" // a required symbol version no library defines
	KindShebang     = "shebang"        // a script's interpreter missing
	KindEntrypoint  = "entrypoint"     // ENTRYPOINT/CMD's program missing or not executable
	KindUser        = "user"           // the config's user or group unknown to the root
	KindArch        = "arch"           // an ELF file for another machine
)

// Reasons a need is unmet.
const (
	WhyMissingPackage = "missing package" // the release has a package providing it; the base lacks it
	WhyMissingSoname  = "missing soname"  // nothing in the base or the release provides it
	WhyMissingFile    = "missing file"    // a path nothing in the base or the release provides
	WhyTooNew         = "symbol version too new"
	WhyNotExecutable  = "not executable"
	WhyUnknown        = "unknown name"
	WhyWrongArch      = "wrong architecture"
)

// Break is one unmet need.
type Break struct {
	File    string `json:"file"`              // the workload's file (or "image config")
	Kind    string `json:"kind"`              // Kind*
	Need    string `json:"need"`              // soname, GLIBC_2.38 (libc.so.6), a path, a user
	Why     string `json:"why"`               // Why*
	Package string `json:"package,omitempty"` // the release's package that would provide it
	Detail  string `json:"detail,omitempty"`
}

// Warning is a file that could not be assessed (a corrupt ELF).
type Warning struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// Report is one workload assessed against one base.
type Report struct {
	Base    BaseInfo `json:"base"`
	Image   string   `json:"image"`
	Files   int      `json:"files"`   // entries of the workload
	ELF     int      `json:"elf"`     // ELF files assessed
	Static  int      `json:"static"`  // of which static: nothing to load
	Scripts int      `json:"scripts"` // executable scripts assessed
	// Replaced counts the workload's files of packages the base has too
	// (by the workload's rpm database): the base's own copies stand in for
	// them, as when the workload is rebuilt FROM this base.
	Replaced int       `json:"replaced"`
	Breaks   []Break   `json:"breaks"`
	Warnings []Warning `json:"warnings,omitempty"`
}

// OK reports whether nothing is unmet.
func (r *Report) OK() bool { return len(r.Breaks) == 0 }

// Image is a workload: an OCI layout, a docker-archive or a directory,
// indexed in memory, with its image config when it has one.
type Image struct {
	Source string
	root   *tree
	config *v1.Config
	arch   string // the config's architecture (OCI naming), "" for a directory
}

// OpenImage reads a workload for arch (an rpm arch): an OCI layout, a
// docker-archive or a plain directory root. An image for another
// architecture is an error.
func OpenImage(ctx context.Context, src, arch string) (*Image, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", src, err)
	}
	im := &Image{Source: src, root: newTree()}
	step := logctx.StartStep(ctx, "assess", filepath.Base(src), "reading the workload")
	if fi.IsDir() && !isFile(filepath.Join(src, "oci-layout")) {
		if err := im.root.addDir(src, "workload"); err != nil {
			step.Fail(err)
			return nil, fmt.Errorf("image %s: %w", src, err)
		}
		step.Done("read", "files", len(im.root.nodes))
		return im, nil
	}
	img, err := oci.Open(src, arch)
	if err != nil {
		step.Fail(err)
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		step.Fail(err)
		return nil, fmt.Errorf("image %s: config: %w", src, err)
	}
	if want := oci.GoArch(arch); cf.Architecture != "" && want != "" && cf.Architecture != want {
		err := fmt.Errorf("image %s is for %s/%s, the base for linux/%s (%s)", src, cf.OS, cf.Architecture, want, arch)
		step.Fail(err)
		return nil, err
	}
	im.config, im.arch = &cf.Config, cf.Architecture
	if err := im.root.addLayers(img, "workload"); err != nil {
		step.Fail(err)
		return nil, fmt.Errorf("image %s: %w", src, err)
	}
	step.Done("read", "files", len(im.root.nodes))
	return im, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Workload assesses the image at image against the base at base (see
// OpenBase; baseImage names the release's container image, "" the
// default). The report lists every break; err is for inputs that cannot
// be read at all.
func Workload(ctx context.Context, base, baseImage, image string) (*Report, error) {
	b, err := OpenBase(ctx, base, baseImage)
	if err != nil {
		return nil, err
	}
	im, err := OpenImage(ctx, image, b.Info.Arch)
	if err != nil {
		return nil, err
	}
	return Check(ctx, b, im), nil
}

// machines maps rpm arches to what their ELF files are.
var machines = map[string]struct {
	class   elf.Class
	machine elf.Machine
	interp  string
}{
	"x86_64":  {elf.ELFCLASS64, elf.EM_X86_64, "/lib64/ld-linux-x86-64.so.2"},
	"aarch64": {elf.ELFCLASS64, elf.EM_AARCH64, "/lib/ld-linux-aarch64.so.1"},
}

// Check assesses im on b: the workload's files stacked on the base's root
// as a container runtime stacks them, every workload ELF loaded as ld.so
// would load it, every executable script's interpreter, the config's
// entry point and user. b and im are only read: one base serves many
// workloads.
func Check(ctx context.Context, b *Base, im *Image) *Report {
	rep := &Report{Base: b.Info, Image: im.Source, Files: len(im.root.nodes), Breaks: []Break{}}
	root := newTree()
	for k, n := range b.root.nodes {
		root.nodes[k] = n
	}
	replaced, err := baseOwned(ctx, im, b)
	if err != nil {
		rep.Warnings = append(rep.Warnings, Warning{File: "/" + rpmdb.Path, Message: err.Error()})
	}
	own := newTree()
	for k, n := range im.root.nodes {
		if replaced[k] && !n.mode.IsDir() {
			rep.Replaced++
			continue
		}
		own.nodes[k] = n
	}
	root.overlay(own)
	ld := loader(root, b.Info.Arch)
	a := &assessor{base: b, root: root, ld: ld, rep: rep}

	var elfs, scripts []string
	for rel, n := range own.nodes {
		switch {
		case n.isELF():
			elfs = append(elfs, rel)
		case n.isScript() && n.mode&0o111 != 0:
			scripts = append(scripts, rel)
		}
	}
	sort.Strings(elfs)
	sort.Strings(scripts)
	a.entrypoint(im)
	a.user(im)
	for _, s := range scripts {
		a.script("/"+s, own.nodes[s])
	}
	rep.Scripts = len(scripts)
	a.elfs(ctx, elfs)
	sort.SliceStable(rep.Breaks, func(i, j int) bool {
		x, y := rep.Breaks[i], rep.Breaks[j]
		if x.File != y.File {
			return x.File < y.File
		}
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		return x.Need < y.Need
	})
	sort.Slice(rep.Warnings, func(i, j int) bool { return rep.Warnings[i].File < rep.Warnings[j].File })
	return rep
}

// baseOwned are the workload's paths that belong to packages the base
// image has too, by the workload's own rpm database (none without one).
func baseOwned(ctx context.Context, im *Image, b *Base) (map[string]bool, error) {
	_, n := im.root.resolve("/" + rpmdb.Path)
	if n == nil || !n.mode.IsRegular() {
		return nil, nil
	}
	data, err := n.content()
	if err != nil {
		return nil, err
	}
	// sqlite reads files only: a private copy, removed when read.
	f, err := os.CreateTemp("", "keel-assess-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	hs, err := rpmdb.Read(ctx, f.Name(), true)
	if err != nil {
		return nil, err
	}
	owned := map[string]bool{}
	for _, h := range hs {
		if !b.names[h.Name()] {
			continue // a package the workload added: its files are the workload's
		}
		paths, err := h.FilePaths()
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", h.Name(), err)
		}
		for _, p := range paths {
			owned[cleanRel(p)] = true
		}
	}
	return owned, nil
}

// loader is glibc's search over root: ld.so.conf's directories only when
// the root has an ld.so.cache (ld.so reads nothing else of them), then the
// system directories of its build (Debian multiarch when libc lives there).
func loader(root *tree, arch string) *ldso.Loader {
	m := machines[arch]
	multiarch := false
	if _, n := root.resolve("/usr/lib/" + map[elf.Machine]string{elf.EM_X86_64: "x86_64", elf.EM_AARCH64: "aarch64"}[m.machine] + "-linux-gnu/libc.so.6"); n != nil {
		multiarch = true
	}
	sys, lib := ldso.SystemDirs(m.machine, multiarch)
	ld := &ldso.Loader{Open: root.object, Class: m.class, Machine: m.machine, Interp: m.interp,
		SystemDirs: sys, Lib: lib, Platform: arch}
	if _, n := root.resolve(ldso.CacheFile); n != nil {
		// A malformed include is no directory, as ldconfig skips it.
		ld.CacheDirs, _ = ldso.ConfReader{ReadFile: root.readFile, Glob: root.glob}.Parse(ldso.ConfFile)
	}
	return ld
}

type assessor struct {
	base *Base
	root *tree
	ld   *ldso.Loader
	mu   sync.Mutex
	rep  *Report
}

func (a *assessor) add(b Break) {
	a.mu.Lock()
	a.rep.Breaks = append(a.rep.Breaks, b)
	a.mu.Unlock()
}

// missing is the break for a path or capability nothing in the root has:
// a missing package when the release has one that provides it.
func (a *assessor) missing(b Break, capability, why string) Break {
	if pkg := a.base.provider(capability); pkg != "" {
		b.Why, b.Package = WhyMissingPackage, pkg
	} else {
		b.Why = why
	}
	return b
}

// elfs loads every ELF file, on all CPUs (the tree's object cache is
// shared: each library is parsed once).
func (a *assessor) elfs(ctx context.Context, rels []string) {
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(rels) {
					return
				}
				a.elf("/" + rels[i])
			}
		}()
	}
	wg.Wait()
}

func (a *assessor) elf(p string) {
	obj, real, err := a.root.object(p)
	if err != nil {
		a.mu.Lock()
		a.rep.Warnings = append(a.rep.Warnings, Warning{File: p, Message: err.Error()})
		a.mu.Unlock()
		return
	}
	if obj.Type == elf.ET_REL || obj.Type == elf.ET_CORE {
		return // objects and kernel modules are not loaded by ld.so
	}
	a.mu.Lock()
	a.rep.ELF++
	if obj.Static() {
		a.rep.Static++
	}
	a.mu.Unlock()
	if err := obj.Check(p, a.ld.Class, a.ld.Machine); err != nil {
		a.add(Break{File: p, Kind: KindArch, Need: fmt.Sprintf("%s %s", a.ld.Class, a.ld.Machine), Why: WhyWrongArch, Detail: err.Error()})
		return
	}
	if obj.Static() {
		return
	}
	if obj.Interp != "" {
		if _, n := a.root.resolve(obj.Interp); n == nil || !n.mode.IsRegular() {
			a.add(a.missing(Break{File: p, Kind: KindInterpreter, Need: obj.Interp}, obj.Interp, WhyMissingFile))
		}
	}
	res := a.ld.Load(real, obj)
	suffix := ""
	if a.ld.Class == elf.ELFCLASS64 {
		suffix = "(64bit)"
	}
	for _, m := range res.Missing {
		b := Break{File: p, Kind: KindSoname, Need: m.Name, Detail: m.Reason}
		if m.NeededBy != real {
			b.Detail = "needed by " + m.NeededBy + "; " + m.Reason
		}
		a.add(a.missing(b, m.Name+"()"+suffix, WhyMissingSoname))
	}
	for _, v := range res.Versions {
		b := Break{File: p, Kind: KindVersion, Need: v.Version + " (" + v.Library + ")", Why: WhyTooNew,
			Detail: fmt.Sprintf("%s does not define it", v.Path)}
		if newest := a.newest(v.Path, v.Version); newest != "" {
			b.Detail += "; its newest is " + newest
		}
		if v.RequiredBy != real {
			b.Detail = "required by " + v.RequiredBy + "; " + b.Detail
		}
		if pkg := a.base.provider(v.Library + "(" + v.Version + ")" + suffix); pkg != "" {
			b.Why, b.Package = WhyMissingPackage, pkg
		}
		a.add(b)
	}
}

// newest is the highest version lib defines in want's family (GLIBC_2.36
// for GLIBC_2.38).
func (a *assessor) newest(lib, want string) string {
	obj, _, err := a.root.object(lib)
	if err != nil {
		return ""
	}
	family, _, _ := strings.Cut(want, "_")
	best := ""
	for _, d := range obj.Defines {
		f, v, ok := strings.Cut(d, "_")
		if !ok || f != family {
			continue
		}
		if _, bv, _ := strings.Cut(best, "_"); best == "" || rpm.Vercmp(v, bv) > 0 {
			best = d
		}
	}
	return best
}

// script checks a "#!" line's interpreter (and, for "/usr/bin/env NAME",
// NAME on PATH).
func (a *assessor) script(p string, n *node) {
	interp, arg, _ := ldso.Shebang(n.data)
	if interp == "" {
		a.add(Break{File: p, Kind: KindShebang, Need: "#!", Why: WhyMissingFile, Detail: "empty #! line"})
		return
	}
	if _, in := a.root.resolve(interp); in == nil || !in.mode.IsRegular() {
		a.add(a.missing(Break{File: p, Kind: KindShebang, Need: interp}, interp, WhyMissingFile))
		return
	}
	if path.Base(interp) == "env" && arg != "" && !strings.HasPrefix(arg, "-") {
		if _, ok := a.lookPath(arg, nil); !ok {
			a.add(a.missing(Break{File: p, Kind: KindShebang, Need: arg, Detail: "run through " + interp + " (PATH " + defaultPath + ")"}, "/usr/bin/"+arg, WhyMissingFile))
		}
	}
}

// defaultPath is runc's PATH when an image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds name as execvp would in the container: a path as is,
// else each PATH directory of env.
func (a *assessor) lookPath(name string, env []string) (*node, bool) {
	if strings.Contains(name, "/") {
		_, n := a.root.resolve(name)
		return n, n != nil
	}
	pathVar := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range strings.Split(pathVar, ":") {
		if _, n := a.root.resolve(path.Join("/", d, name)); n != nil && n.mode.IsRegular() {
			return n, true
		}
	}
	return nil, false
}

// entrypoint checks the program ENTRYPOINT (or, without one, CMD) names.
func (a *assessor) entrypoint(im *Image) {
	if im.config == nil {
		return
	}
	argv := append(append([]string{}, im.config.Entrypoint...), im.config.Cmd...)
	if len(argv) == 0 {
		return
	}
	prog := argv[0]
	if !strings.HasPrefix(prog, "/") && strings.Contains(prog, "/") {
		prog = path.Join("/", im.config.WorkingDir, prog)
	}
	n, ok := a.lookPath(prog, im.config.Env)
	switch {
	case !ok || !n.mode.IsRegular():
		capability := prog
		if !strings.HasPrefix(capability, "/") {
			capability = "/usr/bin/" + prog
		}
		a.add(a.missing(Break{File: "image config", Kind: KindEntrypoint, Need: argv[0], Detail: "ENTRYPOINT/CMD " + strings.Join(argv, " ")}, capability, WhyMissingFile))
	case n.mode&0o111 == 0:
		a.add(Break{File: "image config", Kind: KindEntrypoint, Need: argv[0], Why: WhyNotExecutable, Detail: fmt.Sprintf("mode %v", n.mode)})
	}
}

// user checks the config's USER: names must be in the root's /etc/passwd
// and /etc/group; numeric ids need no entry.
func (a *assessor) user(im *Image) {
	if im.config == nil || im.config.User == "" {
		return
	}
	u, g, _ := strings.Cut(im.config.User, ":")
	check := func(name, file, kind string) {
		if name == "" || isNumeric(name) {
			return
		}
		data, err := a.root.readFile(file)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.rep.Warnings = append(a.rep.Warnings, Warning{File: file, Message: err.Error()})
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if n, _, _ := strings.Cut(line, ":"); n == name {
				return
			}
		}
		a.add(Break{File: "image config", Kind: KindUser, Need: kind + " " + name, Why: WhyUnknown, Detail: "USER " + im.config.User + ": not in " + file})
	}
	check(u, "/etc/passwd", "user")
	check(g, "/etc/group", "group")
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
