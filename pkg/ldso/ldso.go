// Package ldso is the dynamic loader's view of ELF files, read as ld.so(8)
// reads them: the program interpreter (PT_INTERP), DT_NEEDED, DT_RPATH and
// DT_RUNPATH with their $ORIGIN/$LIB/$PLATFORM tokens, DT_SONAME, the symbol
// versions an object requires (.gnu.version_r) and defines (.gnu.version_d);
// ld.so.conf with its include globs; and the search glibc's loader makes for
// each needed soname (see Loader). Scripts' "#!" lines are read here too:
// they are the other thing execve(2) interprets.
package ldso

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"strings"

	"github.com/keel-linux/keel/pkg/elfcheck"
)

// Object is what the loader reads from one ELF file.
type Object struct {
	Class   elf.Class
	Machine elf.Machine
	Type    elf.Type
	Interp  string   // PT_INTERP, "" when none
	Soname  string   // DT_SONAME
	Needed  []string // DT_NEEDED, in order
	RPath   []string // DT_RPATH entries, unexpanded
	RunPath []string // DT_RUNPATH entries, unexpanded
	// HasRunPath is set when DT_RUNPATH is present (even empty): it turns
	// this object's DT_RPATH off.
	HasRunPath bool
	Dynamic    bool          // has PT_DYNAMIC
	NoDefLib   bool          // DF_1_NODEFLIB: no ld.so.cache, no system directories
	PIE        bool          // DF_1_PIE
	Requires   []VersionNeed // .gnu.version_r
	Defines    []string      // .gnu.version_d names (the base entry, the soname, included)
}

// VersionNeed is one library's versions an object requires.
type VersionNeed struct {
	File     string    `json:"file"` // vn_file, a soname
	Versions []Version `json:"versions"`
}

// Version is one required version; a weak one missing is not an error.
type Version struct {
	Name string `json:"name"`
	Weak bool   `json:"weak,omitempty"`
}

// Static reports whether the object is a program that runs without the
// dynamic loader: no interpreter, nothing needed, and no shared library
// (static executables, and static-PIE ones with DF_1_PIE).
func (o *Object) Static() bool {
	return o.Interp == "" && len(o.Needed) == 0 && o.Soname == "" && (o.Type == elf.ET_EXEC || !o.Dynamic || o.PIE)
}

// Defined reports whether o defines version v (any verdef entry, as
// glibc's match_symbol compares them all).
func (o *Object) Defined(v string) bool {
	for _, d := range o.Defines {
		if d == v {
			return true
		}
	}
	return false
}

// ErrNotELF is a file that is no ELF object.
var ErrNotELF = elfcheck.ErrNotELF

// ArchError is an object for another machine or class than the one asked.
type ArchError struct {
	Name                    string
	GotClass, WantClass     elf.Class
	GotMachine, WantMachine elf.Machine
}

func (e *ArchError) Error() string {
	return fmt.Sprintf("%s: ELF for %s %s, not %s %s", e.Name, e.GotClass, e.GotMachine, e.WantClass, e.WantMachine)
}

// Check returns an *ArchError unless o is for class and machine.
func (o *Object) Check(name string, class elf.Class, machine elf.Machine) error {
	if o.Class != class || o.Machine != machine {
		return &ArchError{Name: name, GotClass: o.Class, WantClass: class, GotMachine: o.Machine, WantMachine: machine}
	}
	return nil
}

// IsELF reports whether head starts with the ELF magic.
func IsELF(head []byte) bool { return elfcheck.IsELF(head) }

// Read reads one ELF file. A malformed file is an error naming it, never a
// panic (debug/elf's own recover turns none into one, so Read adds its own).
func Read(name string, r io.ReaderAt) (o *Object, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = nil, fmt.Errorf("%s: corrupt ELF: %v", name, p)
		}
	}()
	f, err := elfcheck.Open(name, r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o = &Object{Class: f.Class, Machine: f.Machine, Type: f.Type}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			b := make([]byte, min(p.Filesz, 4096))
			n, err := p.ReadAt(b, 0)
			if n == 0 && err != nil {
				return nil, fmt.Errorf("%s: PT_INTERP: %w", name, err)
			}
			o.Interp = string(bytes.TrimRight(b[:n], "\x00"))
			if i := strings.IndexByte(o.Interp, 0); i >= 0 {
				o.Interp = o.Interp[:i]
			}
		case elf.PT_DYNAMIC:
			o.Dynamic = true
		}
	}
	if !o.Dynamic || f.Section(".dynamic") == nil {
		return o, nil
	}
	dyn := func(tag elf.DynTag) ([]string, error) {
		v, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, tag, err)
		}
		return v, nil
	}
	if o.Needed, err = dyn(elf.DT_NEEDED); err != nil {
		return nil, err
	}
	son, err := dyn(elf.DT_SONAME)
	if err != nil {
		return nil, err
	}
	if len(son) > 0 {
		o.Soname = son[0]
	}
	rp, err := dyn(elf.DT_RPATH)
	if err != nil {
		return nil, err
	}
	rn, err := dyn(elf.DT_RUNPATH)
	if err != nil {
		return nil, err
	}
	if fl, err := f.DynValue(elf.DT_FLAGS_1); err == nil && len(fl) > 0 {
		o.NoDefLib = fl[0]&uint64(elf.DF_1_NODEFLIB) != 0
		o.PIE = fl[0]&uint64(elf.DF_1_PIE) != 0
	}
	o.RPath, o.RunPath, o.HasRunPath = splitPath(rp), splitPath(rn), len(rn) > 0
	if f.Section(".gnu.version_r") != nil {
		needs, err := f.DynamicVersionNeeds()
		if err != nil {
			return nil, fmt.Errorf("%s: .gnu.version_r: %w", name, err)
		}
		for _, n := range needs {
			vn := VersionNeed{File: n.Name}
			for _, d := range n.Needs {
				vn.Versions = append(vn.Versions, Version{Name: d.Dep, Weak: d.Flags&elf.VER_FLG_WEAK != 0})
			}
			o.Requires = append(o.Requires, vn)
		}
	}
	if f.Section(".gnu.version_d") != nil {
		defs, err := f.DynamicVersions()
		if err != nil {
			return nil, fmt.Errorf("%s: .gnu.version_d: %w", name, err)
		}
		for _, d := range defs {
			o.Defines = append(o.Defines, d.Name)
		}
	}
	return o, nil
}

// splitPath splits DT_RPATH/DT_RUNPATH strings at ':' (an empty entry is
// the current directory for glibc; it is kept as ".").
func splitPath(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ":") {
			if p == "" {
				p = "."
			}
			out = append(out, p)
		}
	}
	return out
}

// Shebang is a script's "#!" line as Linux's binfmt_script reads it: the
// interpreter and at most one argument, from the first line (the kernel
// reads at most 256 bytes of it). ok is false when head is no script.
func Shebang(head []byte) (interp, arg string, ok bool) {
	if !bytes.HasPrefix(head, []byte("#!")) {
		return "", "", false
	}
	line := head[2:]
	if len(line) > 254 {
		line = line[:254]
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	s := strings.Trim(string(line), " \t\r")
	if s == "" {
		return "", "", true
	}
	interp, arg, _ = strings.Cut(strings.ReplaceAll(s, "\t", " "), " ")
	return interp, strings.TrimSpace(arg), true
}
