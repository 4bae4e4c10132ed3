package ldso

import (
	"debug/elf"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// Loader is glibc's ld.so deciding what one program loads (dl-load.c's
// _dl_map_object, breadth first as _dl_map_object_deps does, then
// dl-version.c's checks), over a root it never executes anything from.
type Loader struct {
	// Open returns the object at the absolute path p inside the root,
	// symlinks followed there, and p's resolved form; an error wrapping
	// fs.ErrNotExist when nothing is there.
	Open func(p string) (*Object, string, error)
	// Class and Machine are the only objects a search accepts (glibc skips
	// a library of another class and keeps searching).
	Class   elf.Class
	Machine elf.Machine
	// Interp is loaded for objects without PT_INTERP (shared libraries):
	// the loader that would load them.
	Interp string
	// CacheDirs are the directories ld.so.cache indexes (ld.so.conf's,
	// when the root has a cache), SystemDirs those compiled into ld.so.
	CacheDirs, SystemDirs []string
	// Lib and Platform expand $LIB and $PLATFORM.
	Lib, Platform string
}

// Loaded is one object of a program's link map.
type Loaded struct {
	Name   string `json:"name"` // the DT_NEEDED that loaded it
	Path   string `json:"path"` // where the search found it
	real   string // Path with symlinks resolved: one file is one object
	loader int
	names  []string
	obj    *Object
}

// Missing is a needed soname no search found.
type Missing struct {
	Name     string `json:"name"`
	NeededBy string `json:"needed_by"`
	Reason   string `json:"reason"`
}

// VersionMissing is a required symbol version the library does not define.
type VersionMissing struct {
	Library    string `json:"library"` // the soname required from
	Path       string `json:"path"`    // where it was found
	Version    string `json:"version"`
	RequiredBy string `json:"required_by"`
}

// Result is one program's load: what it maps, what is missing.
type Result struct {
	Loaded   []Loaded         `json:"loaded"`
	Missing  []Missing        `json:"missing,omitempty"`
	Versions []VersionMissing `json:"versions,omitempty"`
}

// Load resolves the program at path p (its object o): every DT_NEEDED,
// breadth first, then every required symbol version.
func (l *Loader) Load(p string, o *Object) Result {
	var res Result
	maps := []Loaded{{Path: p, real: p, loader: -1, names: []string{p}, obj: o}}
	interp := o.Interp
	if interp == "" {
		interp = l.Interp
	}
	if interp != "" {
		if io, rp, err := l.Open(interp); err == nil && io.Check(interp, l.Class, l.Machine) == nil {
			maps = append(maps, Loaded{Name: interp, Path: interp, real: rp, loader: 0, names: []string{interp, io.Soname}, obj: io})
		}
	}
	for i := 0; i < len(maps); i++ {
		for _, n := range maps[i].obj.Needed {
			if loaded(maps, n) >= 0 {
				continue
			}
			fp, real, obj, why := l.search(maps, i, n)
			if obj == nil {
				res.Missing = append(res.Missing, Missing{Name: n, NeededBy: maps[i].Path, Reason: why})
				continue
			}
			if j := byPath(maps, real); j >= 0 { // the same file under another name
				maps[j].names = append(maps[j].names, n)
				continue
			}
			maps = append(maps, Loaded{Name: n, Path: fp, real: real, loader: i, names: []string{n, fp, obj.Soname}, obj: obj})
		}
	}
	for _, m := range maps {
		for _, vn := range m.obj.Requires {
			j := loaded(maps, vn.File)
			if j < 0 || len(maps[j].obj.Defines) == 0 {
				continue // not loaded (reported missing), or no version information: a warning only
			}
			for _, v := range vn.Versions {
				if !v.Weak && !maps[j].obj.Defined(v.Name) {
					res.Versions = append(res.Versions, VersionMissing{Library: vn.File, Path: maps[j].Path, Version: v.Name, RequiredBy: m.Path})
				}
			}
		}
	}
	res.Loaded = maps[1:]
	return res
}

// loaded is _dl_name_match_p over the link map: a name it was loaded
// under, its path or its soname.
func loaded(maps []Loaded, name string) int {
	for i, m := range maps {
		for _, n := range m.names {
			if n == name && n != "" {
				return i
			}
		}
	}
	return -1
}

func byPath(maps []Loaded, p string) int {
	for i, m := range maps {
		if m.real == p {
			return i
		}
	}
	return -1
}

// search finds name for maps[i]: DT_RPATH of it and its loaders up to the
// program (unless it has DT_RUNPATH; a loader with DT_RUNPATH lends no
// RPATH), the program's DT_RPATH, its own DT_RUNPATH (never a loader's),
// ld.so.cache, the system directories (both skipped under DF_1_NODEFLIB).
func (l *Loader) search(maps []Loaded, i int, name string) (found, real string, obj *Object, why string) {
	req := maps[i]
	if strings.Contains(name, "/") {
		p := l.expand(name, path.Dir(req.Path))
		if p == "" {
			return "", "", nil, "unexpandable token in " + name
		}
		if !path.IsAbs(p) {
			p = "/" + p // relative to the working directory, which is / in a container
		}
		return l.try(p)
	}
	var dirs []string
	addDirs := func(m Loaded, entries []string) {
		for _, e := range entries {
			if d := l.expand(e, path.Dir(m.Path)); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	if !req.obj.HasRunPath {
		didMain := false
		for j := i; j >= 0; j = maps[j].loader {
			if !maps[j].obj.HasRunPath {
				addDirs(maps[j], maps[j].obj.RPath)
				didMain = didMain || j == 0
			}
		}
		if !didMain && i != 0 && !maps[0].obj.HasRunPath {
			addDirs(maps[0], maps[0].obj.RPath)
		}
	}
	addDirs(req, req.obj.RunPath)
	if !req.obj.NoDefLib {
		dirs = append(dirs, l.CacheDirs...)
		dirs = append(dirs, l.SystemDirs...)
	}
	why = "not found in " + strings.Join(dedupe(dirs), ":")
	for _, d := range dirs {
		p := path.Join(d, name)
		if !path.IsAbs(p) {
			p = "/" + p
		}
		found, real, obj, err := l.try(p)
		if obj != nil {
			return found, real, obj, ""
		}
		if err != "" && !strings.HasPrefix(err, "no ") {
			why = err
		}
	}
	return "", "", nil, why
}

// try opens p; found is p itself (glibc's $ORIGIN of a library is the
// directory it was found in, not its resolved one).
func (l *Loader) try(p string) (found, real string, obj *Object, why string) {
	obj, real, err := l.Open(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", nil, "no " + p
	case err != nil:
		return "", "", nil, err.Error()
	}
	if err := obj.Check(p, l.Class, l.Machine); err != nil {
		return "", "", nil, err.Error() // glibc skips it and searches on
	}
	return p, real, obj, ""
}

// expand replaces $ORIGIN, $LIB and $PLATFORM (and their ${} forms) in a
// path entry; "" when a token cannot be expanded (glibc drops the entry).
func (l *Loader) expand(s, origin string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		matched := false
		for _, tok := range []struct{ name, val string }{{"ORIGIN", origin}, {"LIB", l.Lib}, {"PLATFORM", l.Platform}} {
			var rest string
			var ok bool
			if rest, ok = strings.CutPrefix(s, "{"+tok.name+"}"); !ok {
				rest, ok = strings.CutPrefix(s, tok.name)
				// $ORIGINX is no token: the name must end there.
				ok = ok && (rest == "" || rest[0] == '/')
			}
			if ok {
				if tok.val == "" {
					return ""
				}
				b.WriteString(tok.val)
				s, matched = rest, true
				break
			}
		}
		if !matched {
			b.WriteByte('$')
		}
	}
	return b.String()
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// SystemDirs are the directories glibc's ld.so searches last on machine:
// Debian's multiarch build (the one Keel Linux ships) or the lib64 layout
// of Fedora-like builds; Lib is what $LIB expands to there.
func SystemDirs(machine elf.Machine, multiarch bool) (dirs []string, lib string) {
	triplet := map[elf.Machine]string{elf.EM_X86_64: "x86_64-linux-gnu", elf.EM_AARCH64: "aarch64-linux-gnu"}[machine]
	if multiarch && triplet != "" {
		return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"}, "lib/" + triplet
	}
	return []string{"/lib64", "/usr/lib64"}, "lib64"
}
