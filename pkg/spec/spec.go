// Package spec reads RPM spec files the way rpm 4.18's rpmspec does: rpm's
// macro language (parametric macros, %{?x:..}, %{expand:}, %{lua:}, %(..)),
// conditionals with rpm's expression grammar, %include, preamble tags,
// subpackages, scriptlets, dependencies (rich ones included) and %changelog.
package spec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Spec is one parsed spec file: the source package and its binary packages.
type Spec struct {
	Path           string      `json:"path"`
	Name           string      `json:"name"`
	Epoch          string      `json:"epoch,omitempty"`
	Version        string      `json:"version"`
	Release        string      `json:"release"`
	Summary        string      `json:"summary"`
	License        string      `json:"license"`
	URL            string      `json:"url,omitempty"`
	BuildArch      string      `json:"buildArch,omitempty"`
	BuildRequires  []Dep       `json:"buildRequires,omitempty"`
	BuildConflicts []Dep       `json:"buildConflicts,omitempty"`
	Sources        []Source    `json:"sources,omitempty"`
	Patches        []Source    `json:"patches,omitempty"`
	ExclusiveArch  []string    `json:"exclusiveArch,omitempty"`
	ExcludeArch    []string    `json:"excludeArch,omitempty"`
	HasCheck       bool        `json:"hasCheck"`
	Packages       []*Package  `json:"packages"`
	Changelog      []Changelog `json:"changelog,omitempty"`
	Warnings       []string    `json:"warnings,omitempty"`
}

// Package is one binary package.
type Package struct {
	Name string `json:"name"`
	// Epoch, Version and Release are the main package's unless the
	// subpackage sets its own (rpm allows it).
	Epoch          string `json:"epoch,omitempty"`
	Version        string `json:"version"`
	Release        string `json:"release"`
	Summary        string `json:"summary"`
	Arch           string `json:"arch"` // target arch or noarch
	Requires       []Dep  `json:"requires,omitempty"`
	Provides       []Dep  `json:"provides,omitempty"`
	Conflicts      []Dep  `json:"conflicts,omitempty"`
	Obsoletes      []Dep  `json:"obsoletes,omitempty"`
	Recommends     []Dep  `json:"recommends,omitempty"`
	Suggests       []Dep  `json:"suggests,omitempty"`
	Supplements    []Dep  `json:"supplements,omitempty"`
	Enhances       []Dep  `json:"enhances,omitempty"`
	HasFiles       bool   `json:"hasFiles"`
	HasDescription bool   `json:"-"`
}

// Source is a Source or Patch tag.
type Source struct {
	Num  int    `json:"num"`
	URL  string `json:"url"`
	File string `json:"file"`
}

// Changelog is one %changelog entry.
type Changelog struct {
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

// EVR returns [epoch:]version-release.
func (s *Spec) EVR() string {
	v := s.Version + "-" + s.Release
	if s.Epoch != "" {
		return s.Epoch + ":" + v
	}
	return v
}

// EVR returns the package's [epoch:]version-release.
func (p *Package) EVR() string {
	v := p.Version + "-" + p.Release
	if p.Epoch != "" {
		return p.Epoch + ":" + v
	}
	return v
}

// Options configure a Reader.
type Options struct {
	// Defines are applied last, like rpm --define 'NAME VALUE'.
	Defines []string
	// MacroFiles replaces rpm's default macro path when non-nil (rpm --macros).
	MacroFiles []string
	// Load adds macro files after the default path (rpm --load).
	Load []string
	// Arch is the target CPU; default x86_64.
	Arch string
	// Shell says whether %(...) runs; the zero value does not run it.
	Shell ShellPolicy
	// LuaPath lists directories for Lua's require; default /usr/lib/rpm/lua.
	LuaPath []string
}

// Reader parses many specs against one loaded macro context.
type Reader struct {
	base *Macros
	opts Options
}

// NewReader loads the macro files once.
func NewReader(opts Options) (*Reader, error) {
	m := NewMacros()
	m.Shell = opts.Shell
	m.shellMemo = newShellCache()
	m.luaPool = &sync.Pool{}
	m.LuaPath = opts.LuaPath
	if m.LuaPath == nil {
		m.LuaPath = []string{"/usr/lib/rpm/lua"}
	}
	arch := opts.Arch
	if arch == "" {
		arch = "x86_64"
	}
	// What rpm's rpmrc code defines before reading macro files.
	m.Push("_target_cpu", arch, -11)
	m.Push("_target_os", "linux", -11)
	m.Push("_target", arch+"-linux", -11)
	m.Push("optflags", "-O2 -g", -11)
	files := opts.MacroFiles
	if files == nil {
		files = DefaultMacroFiles("", arch+"-linux")
	}
	for _, f := range append(append([]string(nil), files...), opts.Load...) {
		if err := m.LoadFile(f); err != nil {
			return nil, fmt.Errorf("loading macros: %w", err)
		}
	}
	for _, d := range opts.Defines {
		if err := m.Define(d); err != nil {
			return nil, fmt.Errorf("--define %q: %w", d, err)
		}
	}
	// Problems in the host's macro files are not the spec's; drop them.
	m.Warnings = nil
	return &Reader{base: m, opts: opts}, nil
}

// Macros returns the loaded base context (shared; clone before defining).
func (r *Reader) Macros() *Macros { return r.base }

// ParseFile reads one spec with a fresh copy of the macro context.
func (r *Reader) ParseFile(path string) (*Spec, error) {
	return r.ParseFileContext(context.Background(), path)
}

// ParseFileContext is ParseFile that stops, with ctx's error, when ctx ends.
func (r *Reader) ParseFileContext(ctx context.Context, path string) (*Spec, error) {
	data, err := readSpec(path)
	if err != nil {
		return nil, err
	}
	return r.parseText(ctx, path, unsafe.String(unsafe.SliceData(data), len(data)))
}

// readSpec reads a spec file within the size and type limits; the error
// names the file.
func readSpec(path string) ([]byte, error) {
	data, err := readBounded(path)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), path+": ")
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &Error{File: path, Msg: msg, Err: err}
	}
	return data, nil
}

// Parse parses spec text; path names it in errors and %include is relative
// to the working directory, as in rpm.
func (r *Reader) Parse(path string, data []byte) (*Spec, error) {
	return r.parseText(context.Background(), path, string(data))
}

// parseText is Parse on text the caller will not change (ParseFiles hands
// over its read buffers without a copy).
func (r *Reader) parseText(ctx context.Context, path, text string) (*Spec, error) {
	// The logical lines are read-only: the BuildArch pass reuses them.
	lines := logicalLines(text)
	s, m, err := r.parseOnce(ctx, path, lines, r.base, "")
	if err != nil {
		return nil, err
	}
	// A BuildArch in the main preamble makes rpm stop there and parse the
	// spec again with _target_cpu set to that arch, in the same macro
	// context: what the preamble defined stays defined (a macro used in
	// Name: before its %global resolves in the second pass).
	if s.BuildArch != "" {
		s2, _, err := r.parseOnce(ctx, path, lines, m, s.BuildArch)
		if err != nil {
			return nil, err
		}
		return s2, nil
	}
	return s, nil
}

func (r *Reader) target() string {
	if r.opts.Arch == "" {
		return "x86_64"
	}
	return r.opts.Arch
}

// ParseFiles parses many specs on jobs goroutines (0 = GOMAXPROCS). Results
// keep the order of paths; a failed spec has a nil Spec and its error.
// A Reader is safe for concurrent use: every parse works on a copy.
func (r *Reader) ParseFiles(paths []string, jobs int) ([]*Spec, []error) {
	return r.ParseFilesContext(context.Background(), paths, jobs)
}

// ParseFilesContext is ParseFiles that stops promptly when ctx ends: specs
// not parsed by then (and the one being parsed) fail with ctx's error.
func (r *Reader) ParseFilesContext(ctx context.Context, paths []string, jobs int) ([]*Spec, []error) {
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	specs := make([]*Spec, len(paths))
	errs := make([]error, len(paths))
	texts := make([]string, len(paths))
	// All files are read first, with more reads in flight than there are
	// CPUs: with a cold page cache the disk, not the CPU, is what a tree of
	// small files waits on, and knowing every spec lets us pick the order.
	const readers = 16
	var wg sync.WaitGroup
	var nextRead atomic.Int64
	for range min(readers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(nextRead.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				data, err := readSpec(paths[i])
				if err != nil {
					errs[i] = err
					continue
				}
				// The buffer is ours and never written again: no copy.
				texts[i] = unsafe.String(unsafe.SliceData(data), len(data))
			}
		}()
	}
	wg.Wait()
	// Specs with %(...) go first: their commands (a Python start-up with
	// distutils takes half a second) then run alongside the other specs'
	// parsing instead of after it. Then the largest first, so that the
	// last ones to finish are short.
	order := make([]int, len(paths))
	weight := make([]int, len(paths))
	for i := range order {
		order[i] = i
		weight[i] = len(texts[i])
		if strings.Contains(texts[i], "%(") {
			weight[i] += 1 << 40
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return weight[order[a]] > weight[order[b]] })
	var nextParse atomic.Int64
	for range min(jobs, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(nextParse.Add(1) - 1)
				if k >= len(order) {
					return
				}
				i := order[k]
				if errs[i] != nil {
					continue
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				specs[i], errs[i] = r.parseText(ctx, paths[i], texts[i])
			}
		}()
	}
	wg.Wait()
	return specs, errs
}

// WriteJSONLines writes one JSON object per spec per line, in order, the
// same bytes as a json.Encoder would (appendJSON). For a whole distribution
// that is ~15 MB: it streams through one reused buffer, since fresh memory
// for the whole output (page faults) cost more than the encoding itself.
func WriteJSONLines(w io.Writer, specs []*Spec) error {
	buf := make([]byte, 0, 128<<10)
	for _, s := range specs {
		var err error
		if buf, err = s.appendJSON(buf); err != nil {
			return fmt.Errorf("encoding %s: %w", s.Path, err)
		}
		buf = append(buf, '\n')
		if len(buf) >= 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// ParseFile parses one spec with a one-off Reader. Use NewReader for many.
func ParseFile(path string, opts Options) (*Spec, error) {
	r, err := NewReader(opts)
	if err != nil {
		return nil, err
	}
	return r.ParseFile(path)
}

// Error is a parse error at file:line.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // the cause, when there is one (errors.Is(err, fs.ErrNotExist))
}

// Position is where the error is (keel --json reports it as file, line).
func (e *Error) Position() (string, int) { return e.File, e.Line }

func (e *Error) Unwrap() error { return e.Err }

// Error escapes control characters: file names and messages quote spec
// text, which must not reach a terminal as escape sequences.
func (e *Error) Error() string {
	if e.Line > 0 {
		return escapeControl(fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg))
	}
	return escapeControl(e.File + ": " + e.Msg)
}

// FindSpecs lists <distro>/SPECS/*/*.spec, sorted.
func FindSpecs(distro string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(distro, "SPECS", "*", "*.spec"))
	if err != nil {
		return nil, err
	}
	return m, nil
}
