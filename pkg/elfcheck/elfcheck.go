// Package elfcheck inspects ELF objects for the hardening a distribution
// promises: PIE, RELRO, BIND_NOW, a non-executable stack, stack canaries,
// FORTIFY_SOURCE and no RPATH — what checksec reports, read with debug/elf.
package elfcheck

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The checks, by the names keel.yaml uses.
const (
	PIE     = "pie"
	RELRO   = "relro"
	BindNow = "bindnow"
	NXStack = "nxstack"
	Canary  = "canary"
	Fortify = "fortify"
	NoRPath = "norpath"
)

// AllChecks in report order.
var AllChecks = []string{PIE, RELRO, BindNow, NXStack, Canary, Fortify, NoRPath}

// Status of one check on one object.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	NA   Status = "n/a" // does not apply (e.g. PIE for a shared library, canary for Go)
)

// Kinds of ELF object.
const (
	KindExec      = "executable"
	KindPIE       = "pie-executable"
	KindStaticPIE = "static-pie-executable"
	KindShared    = "shared-object"
	KindReloc     = "relocatable" // .o, kernel modules: not checked
)

// Result is the hardening report for one ELF object.
type Result struct {
	Path   string            `json:"path"`
	Kind   string            `json:"kind"`
	Lang   string            `json:"lang"` // "c" or "go"
	Checks map[string]Status `json:"checks"`
	Notes  map[string]string `json:"notes,omitempty"` // why a check failed or is n/a
}

// ErrNotELF is returned for files that are not ELF objects.
var ErrNotELF = errors.New("not an ELF object")

// IsELF reports whether the first bytes are the ELF magic.
func IsELF(head []byte) bool { return len(head) >= 4 && bytes.Equal(head[:4], []byte(elf.ELFMAG)) }

// fortifiable are libc functions _FORTIFY_SOURCE replaces with __*_chk
// variants when the compiler can see the object size.
var fortifiable = map[string]bool{
	"memcpy": true, "memmove": true, "memset": true, "mempcpy": true, "strcpy": true, "stpcpy": true,
	"strncpy": true, "stpncpy": true, "strcat": true, "strncat": true, "sprintf": true, "snprintf": true,
	"vsprintf": true, "vsnprintf": true, "printf": true, "fprintf": true, "vprintf": true, "vfprintf": true,
	"dprintf": true, "vdprintf": true, "gets": true, "fgets": true, "read": true, "pread": true, "pread64": true,
	"readlink": true, "readlinkat": true, "getcwd": true, "realpath": true, "recv": true, "recvfrom": true,
	"wcscpy": true, "wmemcpy": true, "wmemset": true, "confstr": true, "getgroups": true, "ttyname_r": true,
	"gethostname": true, "getdomainname": true, "fread": true, "fread_unlocked": true, "syslog": true,
	"vsyslog": true, "poll": true, "ppoll": true, "asprintf": true, "vasprintf": true, "obstack_printf": true,
}

// Open parses an ELF object's headers; a malformed one is ErrNotELF,
// named.
func Open(name string, r io.ReaderAt) (*elf.File, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: %w: %v", name, ErrNotELF, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// Check reads one ELF object. name is only used in the result and errors.
func Check(name string, r io.ReaderAt) (*Result, error) {
	f, err := Open(name, r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := &Result{Path: name, Lang: "c", Checks: map[string]Status{}, Notes: map[string]string{}}
	if f.Section(".go.buildinfo") != nil || f.Section(".gopclntab") != nil {
		res.Lang = "go"
	}

	var hasInterp, hasRelro, hasStack, stackExec, hasDynamic bool
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			hasInterp = true
		case elf.PT_GNU_RELRO:
			hasRelro = true
		case elf.PT_GNU_STACK:
			hasStack = true
			stackExec = p.Flags&elf.PF_X != 0
		case elf.PT_DYNAMIC:
			hasDynamic = true
		}
	}
	_, flags1, bindNow, rpaths := dynamicInfo(f)
	isPIEFlag := flags1&uint64(elf.DF_1_PIE) != 0

	switch f.Type {
	case elf.ET_REL:
		res.Kind = KindReloc
	case elf.ET_EXEC:
		res.Kind = KindExec
	case elf.ET_DYN:
		switch {
		case hasInterp:
			res.Kind = KindPIE
		case isPIEFlag || (f.Entry != 0 && f.Section(".interp") == nil && !hasSoname(f) && isStaticPIE(f)):
			res.Kind = KindStaticPIE
		default:
			res.Kind = KindShared
		}
	default:
		res.Kind = strings.ToLower(f.Type.String())
	}
	if res.Kind == KindReloc || res.Kind == strings.ToLower(elf.ET_CORE.String()) {
		for _, c := range AllChecks {
			res.Checks[c] = NA
		}
		res.Notes["all"] = "relocatable object: hardening is decided when it is linked"
		return res, nil
	}

	// PIE
	switch res.Kind {
	case KindPIE, KindStaticPIE:
		res.Checks[PIE] = Pass
	case KindExec:
		res.Checks[PIE] = Fail
		res.Notes[PIE] = "ET_EXEC: linked at a fixed address (build with -fPIE -pie)"
	default:
		res.Checks[PIE] = NA
	}
	// RELRO + BIND_NOW (full RELRO needs both)
	res.Checks[RELRO] = statusOf(hasRelro, "no PT_GNU_RELRO segment (link with -Wl,-z,relro)")(res, RELRO)
	if !hasDynamic && res.Kind == KindExec {
		res.Checks[BindNow] = NA
		res.Notes[BindNow] = "static executable: no dynamic relocations"
	} else {
		res.Checks[BindNow] = statusOf(bindNow, "lazy binding: no BIND_NOW/DF_BIND_NOW/DF_1_NOW (link with -Wl,-z,now)")(res, BindNow)
	}
	// NX stack
	switch {
	case !hasStack:
		res.Checks[NXStack] = Fail
		res.Notes[NXStack] = "no PT_GNU_STACK: the stack defaults to executable"
	case stackExec:
		res.Checks[NXStack] = Fail
		res.Notes[NXStack] = "PT_GNU_STACK is RWX (an object needed an executable stack; link with -Wl,-z,noexecstack)"
	default:
		res.Checks[NXStack] = Pass
	}
	// RPATH/RUNPATH
	if len(rpaths) > 0 {
		res.Checks[NoRPath] = Fail
		res.Notes[NoRPath] = "DT_RPATH/DT_RUNPATH set: " + strings.Join(rpaths, ", ")
	} else {
		res.Checks[NoRPath] = Pass
	}
	// Canary and FORTIFY: compiler instrumentation of C code, seen in the
	// symbols the object imports.
	if res.Lang == "go" {
		res.Checks[Canary], res.Checks[Fortify] = NA, NA
		res.Notes[Canary] = "Go: bounds-checked, the runtime checks stack growth"
		res.Notes[Fortify] = "Go: no libc string functions"
		return res, nil
	}
	syms := symbolNames(f)
	if syms["__stack_chk_fail"] || syms["__stack_chk_guard"] || syms["__stack_chk_fail_local"] {
		res.Checks[Canary] = Pass
	} else {
		res.Checks[Canary] = Fail
		res.Notes[Canary] = "no __stack_chk_fail: not built with -fstack-protector-strong"
	}
	var fortified, plain []string
	for s := range syms {
		if strings.HasPrefix(s, "__") && strings.HasSuffix(s, "_chk") && s != "__stack_chk_fail" && s != "__stack_chk_fail_local" {
			fortified = append(fortified, s)
		} else if fortifiable[s] {
			plain = append(plain, s)
		}
	}
	switch {
	case len(fortified) > 0:
		res.Checks[Fortify] = Pass
	case len(plain) == 0:
		res.Checks[Fortify] = NA
		res.Notes[Fortify] = "calls no fortifiable libc function"
	default:
		sort.Strings(plain)
		res.Checks[Fortify] = Fail
		res.Notes[Fortify] = "no __*_chk calls though it uses " + strings.Join(plain, ", ") + " (build with -O2 -D_FORTIFY_SOURCE=2)"
	}
	return res, nil
}

func statusOf(ok bool, why string) func(*Result, string) Status {
	return func(r *Result, check string) Status {
		if ok {
			return Pass
		}
		r.Notes[check] = why
		return Fail
	}
}

func dynamicInfo(f *elf.File) (flags, flags1 uint64, bindNow bool, rpaths []string) {
	ds := f.SectionByType(elf.SHT_DYNAMIC)
	if ds == nil {
		return
	}
	data, err := ds.Data()
	if err != nil {
		return
	}
	if f.Class != elf.ELFCLASS64 {
		for i := 0; i+8 <= len(data); i += 8 {
			tag := elf.DynTag(f.ByteOrder.Uint32(data[i:]))
			val := uint64(f.ByteOrder.Uint32(data[i+4:]))
			flags, flags1, bindNow = dynTag(tag, val, flags, flags1, bindNow)
		}
	} else {
		for i := 0; i+16 <= len(data); i += 16 {
			tag := elf.DynTag(f.ByteOrder.Uint64(data[i:]))
			val := f.ByteOrder.Uint64(data[i+8:])
			flags, flags1, bindNow = dynTag(tag, val, flags, flags1, bindNow)
		}
	}
	if rp, err := f.DynString(elf.DT_RPATH); err == nil {
		rpaths = append(rpaths, rp...)
	}
	if rp, err := f.DynString(elf.DT_RUNPATH); err == nil {
		rpaths = append(rpaths, rp...)
	}
	return
}

func dynTag(tag elf.DynTag, val, flags, flags1 uint64, bindNow bool) (uint64, uint64, bool) {
	switch tag {
	case elf.DT_BIND_NOW:
		bindNow = true
	case elf.DT_FLAGS:
		flags = val
		if val&uint64(elf.DF_BIND_NOW) != 0 {
			bindNow = true
		}
	case elf.DT_FLAGS_1:
		flags1 = val
		if val&uint64(elf.DF_1_NOW) != 0 {
			bindNow = true
		}
	}
	return flags, flags1, bindNow
}

func hasSoname(f *elf.File) bool {
	s, err := f.DynString(elf.DT_SONAME)
	return err == nil && len(s) > 0
}

// isStaticPIE: an ET_DYN with an entry point, no interpreter and no needed
// libraries is a self-relocating static PIE (Go's -buildmode=pie, musl, ...).
func isStaticPIE(f *elf.File) bool {
	libs, _ := f.ImportedLibraries()
	return len(libs) == 0
}

// symbolNames collects dynamic symbols (imports matter for canary/fortify)
// and, when present, the static symbol table.
func symbolNames(f *elf.File) map[string]bool {
	out := map[string]bool{}
	if syms, err := f.DynamicSymbols(); err == nil {
		for _, s := range syms {
			out[trimVersion(s.Name)] = true
		}
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			out[trimVersion(s.Name)] = true
		}
	}
	return out
}

func trimVersion(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// Failed lists the required checks that failed, sorted.
func (r *Result) Failed(require []string) []string {
	var out []string
	for _, c := range require {
		if r.Checks[c] == Fail {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}
