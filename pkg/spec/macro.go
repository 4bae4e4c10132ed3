package spec

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Limits that keep hostile input from hanging or exhausting memory. rpm's own
// recursion limit is 64 (max_macro_depth).
const (
	maxDepth      = 64
	maxExpandSize = 8 << 20 // bytes produced by one top-level expansion
)

// ShellPolicy says what %(...) does.
type ShellPolicy int

const (
	// ShellOff expands %(...) to nothing and records a warning. It is the zero
	// value so that a bare Options{} never runs commands from a spec.
	ShellOff ShellPolicy = iota
	// ShellRun runs the command with /bin/sh -c like rpm, with a timeout and
	// an output cap.
	ShellRun
)

type builtinFunc func(e *expander, name, arg string, hasArg bool) (string, error)

type macroDef struct {
	name    string
	opts    string // option letters for parametric macros
	param   bool   // defined with (opts)
	body    string
	level   int
	builtin builtinFunc
	auto    bool // argument of a parametric call (%1, %#, %-f ...)
	parse   bool // builtin gets its argument unexpanded
	prev    *macroDef
}

// Macros is an rpm macro context: a table of macro stacks plus the state the
// builtins need (Lua interpreter, shell policy, warnings).
type Macros struct {
	table     map[string]*macroDef
	parent    *Macros // read-only layer below table (see Clone)
	Shell     ShellPolicy
	LuaPath   []string // directories searched by Lua's require (rpm: %{_rpmconfigdir}/lua)
	Warnings  []string
	lua       *luaEnv
	shellMemo *shellCache
	// whereFile:whereLine, when set, prefix warnings.
	whereFile  string
	whereLine  int
	luaPool    *sync.Pool // shared by clones of one Reader's base context
	srcVersion int        // bumped when sources/patches change (Lua tables)
	// sources/patches feed %{S:n}/%{P:n}; set by the spec parser.
	sources map[int]string
	patches map[int]string
	order   map[string]map[int]int // declaration order of sources/patches
	// spent is what this context's parse has used of its budget (a
	// clone starts afresh); created on first use.
	spent *budget
}

// NewMacros returns a context holding only rpm's builtin macros.
func NewMacros() *Macros {
	m := &Macros{table: map[string]*macroDef{}}
	for name, b := range builtins {
		m.table[name] = &macroDef{name: name, builtin: b.fn, parse: b.parse, level: -20}
	}
	return m
}

// Clone copies the macro table so a parse can define macros without
// disturbing the shared base (the Lua state is not shared).
func (m *Macros) Clone() *Macros {
	// The copy layers its own table over m's: m must not change while the
	// copy is in use (a Reader's base never does). Definitions are immutable
	// linked stacks, so push/pop only replace heads in the top layer.
	if len(m.table) < 64 && m.parent != nil {
		// Keep chains short: copy a small top layer into the new one.
		n := &Macros{table: make(map[string]*macroDef, len(m.table)), parent: m.parent, Shell: m.Shell, LuaPath: m.LuaPath, shellMemo: m.shellMemo, luaPool: m.luaPool}
		for k, v := range m.table {
			n.table[k] = v
		}
		return n
	}
	return &Macros{table: map[string]*macroDef{}, parent: m, Shell: m.Shell, LuaPath: m.LuaPath, shellMemo: m.shellMemo, luaPool: m.luaPool}
}

// lookup is get as the expander sees it: a parametric call's arguments
// (%1, %#, %-f) are visible only at that call's own level, so a nested
// call without arguments does not see its caller's %1.
func (e *expander) lookup(name string) *macroDef {
	d := e.m.get(name)
	if d != nil && d.auto && d.level != e.level {
		return nil
	}
	return d
}

// get finds the current definition of name (nil when undefined).
func (m *Macros) get(name string) *macroDef {
	for c := m; c != nil; c = c.parent {
		if d, ok := c.table[name]; ok {
			return d // nil: undefined in this layer
		}
	}
	return nil
}

// set makes d the current definition of name in the top layer.
func (m *Macros) set(name string, d *macroDef) {
	if d == nil && m.parent == nil {
		delete(m.table, name)
		return
	}
	m.table[name] = d
}

// Define pushes a macro the way `rpm --define 'NAME[(opts)] BODY'` does.
func (m *Macros) Define(def string) error {
	e := &expander{m: m}
	_, err := e.doDefine(def, 0, false)
	return err
}

// Push defines name with a literal body (no parsing).
func (m *Macros) Push(name, body string, level int) {
	m.set(name, &macroDef{name: name, body: body, level: level, prev: m.get(name)})
}

// Undefine pops the newest definition of name.
func (m *Macros) Undefine(name string) {
	if d := m.get(name); d != nil {
		m.set(name, d.prev)
	}
}

// IsDefined reports whether name has a definition.
func (m *Macros) IsDefined(name string) bool { return m.get(name) != nil }

// Body returns the unexpanded body of a macro.
func (m *Macros) Body(name string) (string, bool) {
	d := m.get(name)
	if d == nil {
		return "", false
	}
	return d.body, true
}

// Expand expands every macro in s.
func (m *Macros) Expand(s string) (string, error) { return m.expandLine(s, false) }

// expandDiscarded expands a line whose text keel does not keep (see
// expander.discard): same definitions and errors as Expand, fewer forks.
func (m *Macros) expandDiscarded(s string) (string, error) { return m.expandLine(s, true) }

func (m *Macros) expandLine(s string, discard bool) (string, error) {
	// Most spec lines (descriptions, scripts, changelog) hold no macro.
	if strings.IndexByte(s, '%') < 0 && len(s) <= maxExpandSize {
		return s, nil
	}
	e := &expander{m: m, discard: discard}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	if err := e.expand(&b, s); err != nil {
		return b.String(), err
	}
	return b.String(), nil
}

func (m *Macros) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if m.whereFile != "" {
		msg = fmt.Sprintf("%s:%d: %s", m.whereFile, m.whereLine, msg)
	}
	if len(m.Warnings) < 1000 {
		m.Warnings = append(m.Warnings, msg)
	}
}

// LoadFile reads an rpm macro file (rpm --load): every line starting with %
// defines a macro; lines continue after a trailing backslash or while a %{ or
// %( is open.
func (m *Macros) LoadFile(file string) error {
	data, err := readBounded(file)
	if err != nil {
		return err
	}
	if err := m.budget().spend(len(data)); err != nil {
		return err
	}
	return m.LoadString(file, string(data))
}

// LoadString is LoadFile for text already in memory; name is used in errors.
func (m *Macros) LoadString(name, text string) error {
	lines := logicalLines(text)
	for _, ln := range lines {
		s := strings.TrimLeft(ln.text, " \t")
		if !strings.HasPrefix(s, "%") {
			continue
		}
		e := &expander{m: m}
		if _, err := e.doDefine(strings.TrimSuffix(s[1:], "\n"), -13, false); err != nil {
			m.warn("%s:%d: %v", name, ln.line, err)
		}
	}
	return nil
}

var lineSpecial = func() (t [256]bool) {
	for _, c := range []byte("\\%{}()\n") {
		t[c] = true
	}
	return
}()

type logicalLine struct {
	text string
	line int // first physical line, 1-based
}

// logicalLines splits text the way rpm reads macro files and specs: a line
// continues after a trailing backslash or while a %{ or %( is unbalanced.
func logicalLines(text string) []logicalLine {
	out := make([]logicalLine, 0, strings.Count(text, "\n")+1)
	lineNo := 1
	for len(text) > 0 {
		start := lineNo
		bc, pc := 0, 0
		i := 0
		for ; i < len(text); i++ {
			// Skip plain bytes quickly; only these matter here.
			for i < len(text) && !lineSpecial[text[i]] {
				i++
			}
			if i >= len(text) {
				break
			}
			c := text[i]
			switch c {
			case '\\':
				if i+1 < len(text) && text[i+1] != '\n' {
					i++
				}
			case '%':
				if i+1 < len(text) {
					switch text[i+1] {
					case '{':
						bc++
						i++
					case '(':
						pc++
						i++
					case '%':
						i++
					}
				}
			case '{':
				if bc > 0 {
					bc++
				}
			case '}':
				if bc > 0 {
					bc--
				}
			case '(':
				if pc > 0 {
					pc++
				}
			case ')':
				if pc > 0 {
					pc--
				}
			case '\n':
				lineNo++
				if bc == 0 && pc == 0 && !(i > 0 && text[i-1] == '\\') {
					goto done
				}
			}
		}
	done:
		if i >= len(text) {
			out = append(out, logicalLine{text[:], start})
			break
		}
		out = append(out, logicalLine{text[:i], start})
		text = text[i+1:]
	}
	return out
}

// expander is the state of one top-level expansion.
type expander struct {
	m *Macros
	// discard: the text being expanded is thrown away (a script or %files
	// line: keel reports neither), so a host query (hostQueries: read-only,
	// its output its only effect) whose output lands in it need not run.
	// Cleared while a builtin or parametric macro runs: what they compute
	// can reach definitions (%global, %{expand:}, Lua) instead of the text.
	discard bool
	depth   int
	size    int
	level   int // parametric call level, for scoping %define
	scope   [][]string
	frames  []callFrame
}

// callFrame is a running parametric macro, for Lua's opt and arg tables.
type callFrame struct {
	opts map[string]string
	args []string
}

var errTooDeep = errors.New("too many levels of recursion in macro expansion (recursive macro definition?)")

func isNameChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// matchClose finds the index of the bracket closing the one at s[i],
// skipping backslash-escaped characters as rpm's matchchar does.
func matchClose(s string, i int, open, close byte) int {
	lvl := 0
	for j := i; j < len(s); j++ {
		c := s[j]
		if c == '\\' {
			j++
			continue
		}
		if c == close {
			lvl--
			if lvl <= 0 {
				return j
			}
		} else if c == open {
			lvl++
		}
	}
	return -1
}

func (e *expander) write(b *strings.Builder, s string) error {
	e.size += len(s)
	if e.size > maxExpandSize {
		return &errBudget{fmt.Sprintf("macro expansion exceeds %d bytes", maxExpandSize)}
	}
	if err := e.m.budget().spend(len(s)); err != nil {
		return err
	}
	b.WriteString(s)
	return nil
}

// budget is the context's parse budget, created on first use.
func (m *Macros) budget() *budget {
	if m.spent == nil {
		m.spent = &budget{}
	}
	return m.spent
}

func (e *expander) expandString(s string) (string, error) {
	var b strings.Builder
	err := e.expand(&b, s)
	return b.String(), err
}

// expand is a port of rpm 4.18's expandMacro.
func (e *expander) expand(b *strings.Builder, s string) error {
	// No defer: with this many returns Go cannot open-code it, and the
	// runtime's deferreturn showed up at 5% of parse time.
	e.depth++
	if e.depth > maxDepth {
		e.depth--
		return errTooDeep
	}
	if err := e.m.budget().step(); err != nil {
		e.depth--
		return err
	}
	err := e.expandLoop(b, s)
	e.depth--
	return err
}

func (e *expander) expandLoop(b *strings.Builder, s string) error {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			return e.write(b, s[i:])
		}
		if err := e.write(b, s[i:i+j]); err != nil {
			return err
		}
		i += j
		if i+1 >= len(s) {
			return e.write(b, "%")
		}
		switch s[i+1] {
		case '%':
			if err := e.write(b, "%"); err != nil {
				return err
			}
			i += 2
			continue
		case '(':
			end := matchClose(s, i+1, '(', ')')
			if end < 0 {
				return fmt.Errorf("unterminated (: %s", clip(s[i:]))
			}
			out, err := e.shell(s[i+2 : end])
			if err != nil {
				return err
			}
			if err := e.write(b, out); err != nil {
				return err
			}
			i = end + 1
			continue
		case '[':
			end := matchClose(s, i+1, '[', ']')
			if end < 0 {
				return fmt.Errorf("unterminated [: %s", clip(s[i:]))
			}
			discard := e.discard
			e.discard = false // an expression's value can decide a branch
			x, err := e.expandOutsideStrings(s[i+2 : end])
			if err != nil {
				return err
			}
			v, err := e.evalExpr(x, true)
			e.discard = discard
			if err != nil {
				return err
			}
			if err := e.write(b, v.String()); err != nil {
				return err
			}
			i = end + 1
			continue
		case '{':
			end := matchClose(s, i+1, '{', '}')
			if end < 0 {
				return fmt.Errorf("unterminated {: %s", clip(s[i:]))
			}
			next, err := e.braced(b, s, i, end)
			if err != nil {
				return err
			}
			i = next
			continue
		}
		// %?name and %!?name: the bare forms of %{?name} and %{!?name}.
		if c := s[i+1]; c == '?' || c == '!' {
			k := i + 1
			negate, chk := false, false
			for k < len(s) && (s[k] == '!' || s[k] == '?') {
				if s[k] == '!' {
					negate = !negate
				} else {
					chk = true
				}
				k++
			}
			st := k
			for k < len(s) && isNameChar(s[k]) {
				k++
			}
			if !chk || k == st {
				if err := e.write(b, "%"); err != nil {
					return err
				}
				i++
				continue
			}
			d := e.lookup(s[st:k])
			if d != nil && !negate && d.builtin == nil {
				if err := e.expand(b, d.body); err != nil {
					return err
				}
			}
			i = k
			continue
		}
		// %name, %-f, %-f*, %1, %*, %**, %#
		k := i + 1
		if s[k] == '-' {
			k++
		}
		for k < len(s) && isNameChar(s[k]) {
			k++
		}
		if k < len(s) {
			switch s[k] {
			case '*':
				k++
				if k < len(s) && s[k] == '*' {
					k++
				}
			case '#':
				k++
			}
		}
		name := s[i+1 : k]
		if name == "" || name == "-" {
			if err := e.write(b, "%"); err != nil {
				return err
			}
			i++
			continue
		}
		d := e.lookup(name)
		if d == nil {
			// rpm leaves unknown macros as they are.
			if err := e.write(b, "%"); err != nil {
				return err
			}
			i++
			continue
		}
		// Bare parametric macros and builtins take the rest of the line.
		eol := strings.IndexByte(s[k:], '\n')
		if eol < 0 {
			eol = len(s)
		} else {
			eol += k
		}
		if d.builtin != nil && (name == "define" || name == "global") {
			// The body runs to the end of the line, continued by a trailing
			// backslash or an open %{ / %(.
			level := -1 // %define: the current parametric level
			if name == "global" {
				level = 0
			}
			n, err := e.doDefine(s[k:], level, name == "global")
			if err != nil {
				return err
			}
			i = k + n
			continue
		}
		if d.builtin != nil {
			if name[0] != '-' && builtinNargs[name] > 0 {
				arg := s[k:eol]
				out, err := e.callBuiltin(d, name, strings.TrimLeft(arg, " \t"), true)
				if err != nil {
					return err
				}
				if err := e.write(b, out); err != nil {
					return err
				}
				i = eol
				continue
			}
			out, err := e.callBuiltin(d, name, "", false)
			if err != nil {
				return err
			}
			if err := e.write(b, out); err != nil {
				return err
			}
			i = k
			continue
		}
		if d.param {
			args, err := e.expandString(s[k:eol])
			if err != nil {
				return err
			}
			if err := e.callParam(b, d, splitQuoted(args)); err != nil {
				return err
			}
			i = eol
			continue
		}
		if name[0] == '-' {
			// %-f expands to its literal body.
			if err := e.write(b, d.body); err != nil {
				return err
			}
		} else if err := e.expand(b, d.body); err != nil {
			return err
		}
		i = k
	}
	return nil
}

// expandOutsideStrings expands macros in an %[ ] expression except inside
// "string literals": those expand only if their branch is evaluated (rpm's
// %bcond relies on it), while "0%{?x} == 0" still sees a number.
func (e *expander) expandOutsideStrings(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		q := strings.IndexByte(s, '"')
		if q < 0 {
			x, err := e.expandString(s)
			b.WriteString(x)
			return b.String(), err
		}
		x, err := e.expandString(s[:q])
		if err != nil {
			return "", err
		}
		b.WriteString(x)
		end := strings.IndexByte(s[q+1:], '"')
		if end < 0 {
			b.WriteString(s[q:])
			return b.String(), nil
		}
		b.WriteString(s[q : q+end+2])
		s = s[q+end+2:]
	}
	return b.String(), nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// braced handles %{...} at s[i], with s[end] the closing brace, and returns
// where scanning resumes.
func (e *expander) braced(b *strings.Builder, s string, i, end int) (int, error) {
	f := i + 2
	negate, chk := false, false
	for f < end && (s[f] == '!' || s[f] == '?') {
		if s[f] == '!' {
			negate = !negate
		} else {
			chk = true
		}
		f++
	}
	fe := f
	for fe < end && s[fe] != ':' && s[fe] != ' ' && s[fe] != '\t' {
		fe++
	}
	name := s[f:fe]
	var arg string
	hasArg, colon := false, false
	if fe < end {
		hasArg = true
		colon = s[fe] == ':'
		if colon {
			arg = s[fe+1 : end]
		} else {
			arg = strings.TrimLeft(s[fe:end], " \t")
		}
	}
	if name == "" {
		return i + 1, e.write(b, "%")
	}
	d := e.lookup(name)
	if name[0] == '-' {
		if (d == nil && !negate) || (d != nil && negate) {
			return end + 1, nil
		}
		if hasArg && arg != "" {
			return end + 1, e.expand(b, arg)
		}
		if d != nil {
			return end + 1, e.write(b, d.body)
		}
		return end + 1, nil
	}
	if chk {
		if (d == nil && !negate) || (d != nil && negate) {
			return end + 1, nil
		}
		if hasArg && arg != "" {
			return end + 1, e.expand(b, arg)
		}
		if d != nil && d.builtin == nil {
			return end + 1, e.expand(b, d.body)
		}
		return end + 1, nil
	}
	if d == nil {
		return i + 1, e.write(b, "%")
	}
	if d.builtin != nil {
		out, err := e.callBuiltin(d, name, arg, hasArg)
		if err != nil {
			return 0, err
		}
		return end + 1, e.write(b, out)
	}
	if d.param {
		var args []string
		if hasArg {
			x, err := e.expandString(arg)
			if err != nil {
				return 0, err
			}
			// rpm 4.18 passes %{name:args} as one unsplit argument but
			// splits %{name args} like the bare form.
			if colon {
				args = []string{x}
			} else {
				args = splitQuoted(x)
			}
		}
		return end + 1, e.callParam(b, d, args)
	}
	return end + 1, e.expand(b, d.body)
}

func (e *expander) callBuiltin(d *macroDef, name, arg string, hasArg bool) (string, error) {
	discard := e.discard
	e.discard = false
	out, err := e.callBuiltinKeep(d, name, arg, hasArg)
	e.discard = discard
	return out, err
}

func (e *expander) callBuiltinKeep(d *macroDef, name, arg string, hasArg bool) (string, error) {
	if hasArg && !d.parse {
		x, err := e.expandString(arg)
		if err != nil {
			return "", err
		}
		arg = x
	}
	return d.builtin(e, name, arg, hasArg)
}

// splitQuoted splits macro arguments on blanks; %{quote:} wraps an argument
// in \x1f so that it stays one word.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\x1f':
			quoted = !quoted
			in = true
		case !quoted && (c == ' ' || c == '\t' || c == '\n'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// callParam runs a parametric macro: getopt over args, local %0 %1.. %* %**
// %# %-f %-f*, expand the body, then drop every macro defined at this level.
func (e *expander) callParam(b *strings.Builder, d *macroDef, args []string) error {
	discard := e.discard
	e.discard = false
	err := e.callParamKeep(b, d, args)
	e.discard = discard
	return err
}

func (e *expander) callParamKeep(b *strings.Builder, d *macroDef, args []string) error {
	e.level++
	e.scope = append(e.scope, nil)
	defer func() {
		top := e.scope[len(e.scope)-1]
		for i := len(top) - 1; i >= 0; i-- {
			e.m.Undefine(top[i])
		}
		e.scope = e.scope[:len(e.scope)-1]
		e.level--
	}()
	def := func(n, v string) {
		e.m.set(n, &macroDef{name: n, body: v, level: e.level, auto: true, prev: e.m.get(n)})
		e.scope[len(e.scope)-1] = append(e.scope[len(e.scope)-1], n)
	}
	def("0", d.name)
	def("**", strings.Join(args, " "))
	rest := args
	if d.opts != "-" {
		// GNU getopt, as rpm uses it: options may follow arguments
		// ("%autopatch 0 -p1"); "--" ends option parsing.
		var plain []string
		k := 0
	opts:
		for k < len(args) {
			a := args[k]
			if a == "--" {
				plain = append(plain, args[k+1:]...)
				k = len(args)
				break
			}
			if len(a) < 2 || a[0] != '-' {
				plain = append(plain, a)
				k++
				continue
			}
			for p := 1; p < len(a); p++ {
				c := a[p]
				idx := strings.IndexByte(d.opts, c)
				if idx < 0 || c == ':' {
					return fmt.Errorf("unknown option %c in %s(%s)", c, d.name, d.opts)
				}
				if idx+1 < len(d.opts) && d.opts[idx+1] == ':' {
					var val string
					if p+1 < len(a) {
						val = a[p+1:]
					} else if k+1 < len(args) {
						k++
						val = args[k]
					} else {
						return fmt.Errorf("option %c of %s requires an argument", c, d.name)
					}
					def("-"+string(c), "-"+string(c)+" "+val)
					def("-"+string(c)+"*", val)
					k++
					continue opts
				}
				def("-"+string(c), "-"+string(c))
			}
			k++
		}
		rest = plain
	}
	fr := callFrame{opts: map[string]string{}, args: rest}
	for _, n := range e.scope[len(e.scope)-1] {
		if len(n) == 2 && n[0] == '-' {
			v, _ := e.m.Body(n + "*")
			fr.opts[n[1:]] = v
		}
	}
	e.frames = append(e.frames, fr)
	defer func() { e.frames = e.frames[:len(e.frames)-1] }()
	def("#", strconv.Itoa(len(rest)))
	for n, a := range rest {
		def(strconv.Itoa(n+1), a)
	}
	def("*", strings.Join(rest, " "))
	return e.expand(b, d.body)
}

// doDefine parses "NAME[(opts)] BODY" (rpm's doDefine). level -1 means the
// current parametric level; expandBody is %global.
func (e *expander) doDefine(s string, level int, expandBody bool) (int, error) {
	discard := e.discard
	e.discard = false // a %global body is a definition, whatever line it is on
	n, err := e.doDefineKeep(s, level, expandBody)
	e.discard = discard
	return n, err
}

func (e *expander) doDefineKeep(s string, level int, expandBody bool) (int, error) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	ns := i
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	name := s[ns:i]
	opts, param := "", false
	if i < len(s) && s[i] == '(' {
		j := strings.IndexByte(s[i:], ')')
		if j < 0 {
			return len(s), fmt.Errorf("macro %%%s has unterminated opts", name)
		}
		opts, param = s[i+1:i+j], true
		i += j + 1
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	var body strings.Builder
	bc, pc := 0, 0
	for i < len(s) && (bc > 0 || pc > 0 || s[i] != '\n') {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) {
				i++
				c = s[i]
			}
		case '%':
			if i+1 < len(s) {
				switch s[i+1] {
				case '{':
					body.WriteByte('%')
					i++
					c = '{'
					bc++
				case '(':
					body.WriteByte('%')
					i++
					c = '('
					pc++
				case '%':
					body.WriteByte('%')
					i++
					c = '%'
				}
			}
		case '{':
			if bc > 0 {
				bc++
			}
		case '}':
			if bc > 0 {
				bc--
			}
		case '(':
			if pc > 0 {
				pc++
			}
		case ')':
			if pc > 0 {
				pc--
			}
		}
		body.WriteByte(c)
		i++
	}
	if bc > 0 || pc > 0 {
		return i, fmt.Errorf("macro %%%s has unterminated body", name)
	}
	bs := strings.TrimRight(body.String(), " \t\n")
	if name == "" || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')) || name == "_" {
		return i, fmt.Errorf("macro %%%s has illegal name (%%define)", name)
	}
	if bs == "" && !param {
		return i, fmt.Errorf("macro %%%s has empty body", name)
	}
	if _, ok := builtins[name]; ok {
		return i, fmt.Errorf("macro %%%s is a built-in (%%define)", name)
	}
	if expandBody {
		x, err := e.expandString(bs)
		if err != nil {
			return i, err
		}
		bs = x
	}
	if level == -1 {
		level = e.level
		if e.level > 0 && len(e.scope) > 0 {
			e.scope[len(e.scope)-1] = append(e.scope[len(e.scope)-1], name)
		}
	}
	e.m.set(name, &macroDef{name: name, opts: opts, param: param, body: bs, level: level, prev: e.m.get(name)})
	return i, nil
}

type builtinSpec struct {
	fn    builtinFunc
	parse bool
}

var builtins map[string]builtinSpec

// builtinNargs: builtins that take an argument also in the bare form
// ("%define x y", "%undefine x").
var builtinNargs = map[string]int{
	"P": 1, "S": 1, "basename": 1, "define": 1, "dirname": 1, "dnl": 1, "echo": 1, "error": 1,
	"exists": 1, "expand": 1, "expr": 1, "getenv": 1, "global": 1, "load": 1, "lua": 1,
	"macrobody": 1, "quote": 1, "shescape": 1, "shrink": 1, "suffix": 1, "u2p": 1,
	"uncompress": 1, "undefine": 1, "url2path": 1, "verbose": 1, "warn": 1,
}

func init() {
	builtins = map[string]builtinSpec{
		"define": {parse: true, fn: func(e *expander, _, arg string, _ bool) (string, error) {
			_, err := e.doDefine(arg, -1, false)
			return "", err
		}},
		"global": {parse: true, fn: func(e *expander, _, arg string, _ bool) (string, error) {
			_, err := e.doDefine(arg, 0, true)
			return "", err
		}},
		"undefine": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			n := strings.TrimSpace(arg)
			if n == "" {
				return "", errors.New("%undefine needs a macro name")
			}
			e.m.Undefine(n)
			return "", nil
		}},
		"dnl": {parse: true, fn: func(*expander, string, string, bool) (string, error) { return "", nil }},
		"expand": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			return e.expandString(arg)
		}},
		"lua": {parse: true, fn: func(e *expander, _, arg string, _ bool) (string, error) {
			return e.runLua(arg, nil, nil)
		}},
		"basename": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			if arg == "" {
				return "", nil
			}
			return path.Base(arg), nil
		}},
		"dirname": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			if i := strings.LastIndexByte(arg, '/'); i > 0 {
				return arg[:i], nil
			} else if i == 0 {
				return "/", nil
			}
			return arg, nil
		}},
		"suffix": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			if i := strings.LastIndexByte(arg, '.'); i >= 0 {
				return arg[i+1:], nil
			}
			return "", nil
		}},
		"shrink": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			return strings.Join(strings.Fields(arg), " "), nil
		}},
		"quote": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			return "\x1f" + arg + "\x1f", nil
		}},
		"shescape": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			return "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'", nil
		}},
		"getenv": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			return os.Getenv(arg), nil
		}},
		"exists": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			if _, err := os.Stat(arg); err == nil {
				return "1", nil
			}
			return "0", nil
		}},
		"expr": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			v, err := e.evalExpr(arg, false)
			if err != nil {
				return "", err
			}
			return v.String(), nil
		}},
		"getconfdir": {fn: func(*expander, string, string, bool) (string, error) { return "/usr/lib/rpm", nil }},
		"getncpus":   {fn: func(*expander, string, string, bool) (string, error) { return "1", nil }},
		"macrobody": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			d := e.m.get(strings.TrimSpace(arg))
			if d == nil {
				return "", fmt.Errorf("no such macro: %s", arg)
			}
			return d.body, nil
		}},
		"url2path": {fn: url2path},
		"u2p":      {fn: url2path},
		"uncompress": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			// rpm picks the decompressor by sniffing the file; specs use this
			// only in %prep, which rpmspec -q never runs.
			return "/usr/bin/cat " + arg, nil
		}},
		"S": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			return e.sourcePatch(e.m.sources, "SOURCE", arg)
		}},
		"P": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			return e.sourcePatch(e.m.patches, "PATCH", arg)
		}},
		"echo":    {fn: func(*expander, string, string, bool) (string, error) { return "", nil }},
		"verbose": {fn: func(*expander, string, string, bool) (string, error) { return "0", nil }},
		"warn": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			e.m.warn("warning: %s", arg)
			return "", nil
		}},
		"error": {fn: func(_ *expander, _, arg string, _ bool) (string, error) {
			return "", fmt.Errorf("%s", arg)
		}},
		"load": {fn: func(e *expander, _, arg string, _ bool) (string, error) {
			if err := e.m.LoadFile(arg); err != nil {
				return "", fmt.Errorf("%%{load:}: %w", err)
			}
			return "", nil
		}},
		"trace": {fn: func(*expander, string, string, bool) (string, error) { return "", nil }},
		"dump":  {fn: func(*expander, string, string, bool) (string, error) { return "", nil }},
	}
}

func url2path(_ *expander, _, arg string, _ bool) (string, error) {
	for _, p := range []string{"file://", "http://", "https://", "ftp://"} {
		if strings.HasPrefix(arg, p) {
			rest := arg[len(p):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				return rest[i:], nil
			}
			return "", nil
		}
	}
	return arg, nil
}

func (e *expander) sourcePatch(tab map[int]string, macro, arg string) (string, error) {
	// rpm builds "%{SOURCE<arg>}": a bad number stays an unknown macro.
	return e.expandString("%{" + macro + strings.TrimSpace(arg) + "}")
}

// MacroNames lists defined macro names, sorted (for dumps and tests).
func (m *Macros) MacroNames() []string {
	seen := map[string]bool{}
	var n []string
	for c := m; c != nil; c = c.parent {
		for k := range c.table {
			if !seen[k] {
				seen[k] = true
				if m.get(k) != nil {
					n = append(n, k)
				}
			}
		}
	}
	sort.Strings(n)
	return n
}

// DefaultMacroFiles lists rpm's macro path for this host in load order, as
// rpm 4.18 builds it (Debian's vendor directory is "debian").
func DefaultMacroFiles(confdir, target string) []string {
	if confdir == "" {
		confdir = "/usr/lib/rpm"
	}
	if target == "" {
		target = "x86_64-linux"
	}
	pat := []string{
		confdir + "/macros",
		confdir + "/macros.d/macros.*",
		confdir + "/platform/" + target + "/macros",
		confdir + "/fileattrs/*.attr",
		confdir + "/debian/macros",
		"/etc/rpm/macros.*",
		"/etc/rpm/macros",
		"/etc/rpm/" + target + "/macros",
	}
	if h, err := os.UserHomeDir(); err == nil {
		pat = append(pat, filepath.Join(h, ".rpmmacros"))
	}
	var out []string
	for _, p := range pat {
		if strings.ContainsAny(p, "*?[") {
			m, _ := filepath.Glob(p)
			sort.Strings(m)
			for _, f := range m {
				if strings.HasSuffix(f, ".rpmnew") || strings.HasSuffix(f, ".rpmsave") || strings.HasSuffix(f, "~") {
					continue
				}
				out = append(out, f)
			}
		} else if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
