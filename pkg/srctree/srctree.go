// Package srctree reads a distribution's source tree from its specs alone,
// without building anything: per source package its EVR, binary packages and
// CVE evidence (Patch files named after a CVE, CVE-*.nopatch files beside
// the spec, CVE IDs in %changelog), and the kernel config files kept in the
// tree (SPECS/kernel*/config*). It is what `keel release diff` and `keel
// assess upgrade` read when two trees cannot be built here — another
// distribution's, such as two tags of Azure Linux, whose sources are not
// reachable. A spec that does not parse, or uses macros nobody defined, is a
// problem of that spec; the rest of the tree is still read.
package srctree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/spec"
)

// Options for Read.
type Options struct {
	// Defines are extra macros ('NAME VALUE'), e.g. "dist .azl3".
	Defines []string
	// Jobs parses this many specs at once; 0 = CPUs.
	Jobs int
}

// Tree is one source tree as its specs describe it.
type Tree struct {
	Dir string `json:"dir"`
	// MacroFiles are the tree's own macro files that were loaded (its
	// *-rpm-macros package's macros and macros.*), relative to Dir.
	MacroFiles []string           `json:"macro_files"`
	Sources    map[string]*Source `json:"sources"` // by source package name
	// Kernels are the kernel config files, by path relative to Dir.
	Kernels  map[string]kconfig.Config `json:"-"`
	Problems []Problem                 `json:"problems"`
	Specs    int                       `json:"specs"` // spec files found
}

// Source is one spec.
type Source struct {
	Name     string   `json:"name"`
	EVR      string   `json:"evr"`
	Spec     string   `json:"spec"`     // relative to the tree
	Packages []string `json:"packages"` // binary package names, sorted
	// Patches are the Patch file names naming a CVE (CVE-2024-1234.patch).
	Patches []string `json:"cve_patches,omitempty"`
	// NoPatch are the CVE IDs of CVE-*.nopatch files beside the spec
	// (recorded as not applicable, no patch needed).
	NoPatch []string `json:"nopatch,omitempty"`
	// Changelog are the CVE IDs the %changelog mentions.
	Changelog []string `json:"changelog_cves,omitempty"`
}

// Problem is a spec (or kernel config) the reader could not read fully.
type Problem struct {
	File     string   `json:"file"` // relative to the tree
	Fatal    bool     `json:"fatal"`
	Messages []string `json:"messages"`
}

var cveRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`CVE-\d{4}-\d{4,}`) })

// IsTree reports whether dir looks like a spec tree (SPECS/*/*.spec).
func IsTree(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "SPECS", "*", "*.spec"))
	return len(m) > 0
}

// Read reads every SPECS*/*/*.spec of dir (SPECS, and siblings such as
// Azure Linux's SPECS-EXTENDED and SPECS-SIGNED) with the tree's own macros
// loaded and %(...) never run: the tree is data, not code to execute.
func Read(ctx context.Context, dir string, opt Options) (*Tree, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	specs, err := filepath.Glob(filepath.Join(dir, "SPECS*", "*", "*.spec"))
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s: no SPECS*/*/*.spec: not a distribution source tree", dir)
	}
	sort.Strings(specs)
	t := &Tree{Dir: dir, Sources: map[string]*Source{}, Kernels: map[string]kconfig.Config{}, Specs: len(specs)}
	load, luaDir, err := treeMacros(dir)
	if err != nil {
		return nil, err
	}
	if luaDir != "" {
		defer os.RemoveAll(luaDir)
	}
	for _, f := range load {
		t.MacroFiles = append(t.MacroFiles, rel(dir, f))
	}
	var luaPath []string
	if luaDir != "" {
		luaPath = []string{luaDir, "/usr/lib/rpm/lua"}
	}
	r, err := spec.NewReader(spec.Options{Defines: opt.Defines, Load: load, LuaPath: luaPath})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	parsed, errs := r.ParseFilesContext(ctx, specs, opt.Jobs)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, s := range parsed {
		relSpec := rel(dir, specs[i])
		if errs[i] != nil {
			t.Problems = append(t.Problems, Problem{File: relSpec, Fatal: true, Messages: []string{errs[i].Error()}})
			continue
		}
		if w := unexpanded(specs[i], s.Warnings); len(w) > 0 {
			t.Problems = append(t.Problems, Problem{File: relSpec, Messages: w})
		}
		src := describe(s, relSpec)
		src.NoPatch = noPatches(filepath.Dir(specs[i]))
		if prev, dup := t.Sources[src.Name]; dup {
			t.Problems = append(t.Problems, Problem{File: relSpec, Messages: []string{
				fmt.Sprintf("source package %s is also %s; kept the first", src.Name, prev.Spec)}})
			continue
		}
		t.Sources[src.Name] = src
	}
	t.readKernelConfigs()
	sort.Slice(t.Problems, func(i, j int) bool { return t.Problems[i].File < t.Problems[j].File })
	return t, nil
}

func rel(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

// describe turns a parsed spec into what a comparison needs.
func describe(s *spec.Spec, relSpec string) *Source {
	src := &Source{Name: s.Name, EVR: s.EVR(), Spec: relSpec}
	for _, p := range s.Packages {
		src.Packages = append(src.Packages, p.Name)
	}
	sort.Strings(src.Packages)
	for _, p := range s.Patches {
		if base := filepath.Base(p.File); cveRe().MatchString(base) {
			src.Patches = append(src.Patches, base)
		}
	}
	sort.Strings(src.Patches)
	src.Patches = dedup(src.Patches)
	for _, c := range s.Changelog {
		src.Changelog = append(src.Changelog, cveRe().FindAllString(c.Text, -1)...)
	}
	sort.Strings(src.Changelog)
	src.Changelog = dedup(src.Changelog)
	return src
}

// unexpanded keeps the warnings about macros the reader could not expand
// where that can change what is compared: an unknown macro in a tag, or a
// %(...) not run on a line of the spec's preamble or package headers. A
// %(...) in %build or %install (rpm's %_smp_mflags runs one in nearly every
// spec) changes nothing a comparison reads, and would bury the rest.
func unexpanded(specPath string, ws []string) []string {
	var out []string
	var body []bool // line -> inside a build-time section
	for _, w := range ws {
		switch {
		case strings.Contains(w, "unknown macro"):
			out = append(out, w)
		case strings.Contains(w, "not run"):
			if body == nil {
				body = buildSections(specPath)
			}
			file, line := position(w)
			if file == specPath && line > 0 && (line >= len(body) || !body[line]) {
				out = append(out, w)
			}
		}
	}
	return out
}

// position reads "file:line: ..." off a warning.
func position(w string) (string, int) {
	file, rest, ok := strings.Cut(w, ":")
	if !ok {
		return "", 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n := 0
	for _, c := range num {
		if c < '0' || c > '9' {
			return file, 0
		}
		n = n*10 + int(c-'0')
	}
	return file, n
}

// buildSections marks the lines (1-based) of a spec inside sections whose
// text is build-time script or file lists, not package metadata.
func buildSections(path string) []bool {
	data, err := readBounded(path)
	if err != nil {
		return []bool{}
	}
	lines := strings.Split(string(data), "\n")
	marks := make([]bool, len(lines)+1)
	in := false
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "%") {
			word := strings.TrimPrefix(strings.Fields(t)[0], "%")
			switch word {
			case "prep", "build", "install", "check", "clean", "files", "changelog", "pre", "post", "preun", "postun",
				"pretrans", "posttrans", "triggerin", "triggerun", "triggerpostun", "filetriggerin", "filetriggerun",
				"transfiletriggerin", "transfiletriggerun", "verifyscript", "generate_buildrequires", "conf":
				in = true
			case "package", "description":
				in = false
			}
		}
		marks[i+1] = in
	}
	return marks
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// noPatches lists the CVE IDs of CVE-*.nopatch files in dir.
func noPatches(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "CVE-*.nopatch"))
	var out []string
	for _, f := range m {
		if id := cveRe().FindString(filepath.Base(f)); id != "" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return dedup(out)
}

// treeMacros finds the tree's base macro package (a SPECS/*-rpm-macros
// directory holding a file named "macros": azurelinux-rpm-macros,
// mariner-rpm-macros, keel-rpm-macros) and returns its macros and macros.*
// files. Lua modules its macros require ("azl.common" from common.lua
// beside them) are linked into a temporary Lua path the caller removes.
func treeMacros(dir string) (files []string, luaDir string, err error) {
	cands, _ := filepath.Glob(filepath.Join(dir, "SPECS", "*-rpm-macros", "macros"))
	if len(cands) == 0 {
		return nil, "", nil
	}
	sort.Strings(cands)
	base := filepath.Dir(cands[0])
	ms, _ := filepath.Glob(filepath.Join(base, "macros*"))
	sort.Strings(ms)
	reqRe := regexp.MustCompile(`require\s*\(?\s*["']([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)+)["']`)
	for _, f := range ms {
		if st, err := os.Lstat(f); err != nil || !st.Mode().IsRegular() {
			continue
		}
		files = append(files, f)
		data, err := readBounded(f)
		if err != nil {
			continue
		}
		for _, m := range reqRe.FindAllStringSubmatch(string(data), -1) {
			parts := strings.Split(m[1], ".")
			mod := filepath.Join(base, parts[len(parts)-1]+".lua")
			if st, err := os.Lstat(mod); err != nil || !st.Mode().IsRegular() {
				continue
			}
			if luaDir == "" {
				if luaDir, err = os.MkdirTemp("", "keel-srctree-lua-"); err != nil {
					return nil, "", err
				}
			}
			link := filepath.Join(append([]string{luaDir}, parts...)...) + ".lua"
			_ = os.MkdirAll(filepath.Dir(link), 0o755)
			_ = os.Symlink(mod, link)
		}
	}
	return files, luaDir, nil
}

// readKernelConfigs reads SPECS*/kernel*/config and config_* files.
func (t *Tree) readKernelConfigs() {
	m, _ := filepath.Glob(filepath.Join(t.Dir, "SPECS*", "kernel*", "config*"))
	sort.Strings(m)
	for _, f := range m {
		base := filepath.Base(f)
		if base != "config" && !strings.HasPrefix(base, "config_") {
			continue
		}
		relPath := rel(t.Dir, f)
		data, err := readBounded(f)
		if err != nil {
			t.Problems = append(t.Problems, Problem{File: relPath, Messages: []string{err.Error()}})
			continue
		}
		c, err := kconfig.Parse(strings.NewReader(string(data)), relPath)
		if err != nil {
			t.Problems = append(t.Problems, Problem{File: relPath, Messages: []string{err.Error()}})
			continue
		}
		t.Kernels[relPath] = c
	}
}

// readBounded reads a regular file of the tree through the spec reader's
// bounds; a symbolic link is refused first, so a tree cannot point the
// report at a file outside it (a config's parse error quotes a line).
func readBounded(path string) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: a symbolic link; files of a source tree are read only when they are regular files", path)
	}
	return spec.ReadBounded(path)
}
