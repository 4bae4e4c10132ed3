package spec

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// In-process versions of the commands %(...) bodies use: dash's echo, GNU
// cut, tr, sed and grep, util-linux rev (test and [ fork: removing their
// clone cost nothing measurable, see bench/results/specs.md). Each models only the
// forms it checks for and returns errFallback for anything else (an
// unknown flag, a file operand, an escape, non-ASCII data), so that the
// real command decides. Data is bytes in the C locale: non-ASCII falls back.

type shellBuiltin struct {
	external bool // a program in PATH (checked to be the distribution's)
	run      func(c *cmdIO, args []string) (int, error)
}

type cmdIO struct {
	stdin  *os.File // nil: no pipe; the real command would read rpm's stdin
	stdout io.Writer
	st     *inprocRun
}

var shellBuiltins map[string]shellBuiltin

func init() {
	shellBuiltins = map[string]shellBuiltin{
		"true":  {},
		"false": {},
		":":     {},
		"echo":  {run: shEcho},
		"cut":   {external: true, run: gnuCut},
		"tr":    {external: true, run: gnuTr},
		"sed":   {external: true, run: gnuSed},
		"grep":  {external: true, run: gnuGrep},
		"rev":   {external: true, run: utilRev},
	}
}

func (c *cmdIO) write(s string) error {
	_, err := io.WriteString(c.stdout, s)
	if err != nil {
		// A closed pipe: the reader stopped early; sh would see SIGPIPE.
		return errFallback
	}
	return nil
}

// input reads all of stdin; only a pipe from another in-process command.
func (c *cmdIO) input() (string, error) {
	if c.stdin == nil {
		return "", errFallback
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, shellMaxOut+1))
	if err != nil || len(b) > shellMaxOut || !isASCII(string(b)) {
		return "", errFallback
	}
	return string(b), nil
}

// lines splits text into lines and says whether the last one ended in a
// newline (GNU sed keeps a missing one missing).
func lines(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	nl := strings.HasSuffix(s, "\n")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n"), nl
}

// shEcho is dash's echo (and bash's, for these forms): an optional first
// -n, no escapes. Backslashes (dash interprets them, bash does not) and
// option-looking words fall back.
func shEcho(c *cmdIO, args []string) (int, error) {
	nl := "\n"
	if len(args) > 0 && args[0] == "-n" {
		nl, args = "", args[1:]
	}
	if len(args) > 0 && isEchoFlags(args[0]) {
		return 0, errFallback
	}
	for _, a := range args {
		if strings.IndexByte(a, '\\') >= 0 {
			return 0, errFallback
		}
	}
	return 0, c.write(strings.Join(args, " ") + nl)
}

func isEchoFlags(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	for _, r := range a[1:] {
		if r != 'n' && r != 'e' && r != 'E' {
			return false
		}
	}
	return true
}

// getopt splits GNU-style arguments (options may follow operands until
// "--") into options and operands. withArg says which short options take a
// value; long options must be spelled out in full and be in longs (true:
// takes a value). ok is false for anything unknown.
type opt struct{ name, val string }

func getopt(args []string, withArg, noArg string, longs map[string]bool) (opts []opt, operands []string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...), true
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			takes, known := longs[name]
			if !known {
				return nil, nil, false
			}
			if takes && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, false
				}
				i++
				val = args[i]
			} else if !takes && hasVal {
				return nil, nil, false
			}
			opts = append(opts, opt{"--" + name, val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				ch := string(a[j])
				switch {
				case strings.Contains(withArg, ch):
					val := a[j+1:]
					if val == "" {
						if i+1 >= len(args) {
							return nil, nil, false
						}
						i++
						val = args[i]
					}
					opts = append(opts, opt{"-" + ch, val})
					j = len(a)
				case strings.Contains(noArg, ch):
					opts = append(opts, opt{"-" + ch, ""})
				default:
					return nil, nil, false
				}
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, true
}

// cutRange is a 1-based inclusive range; hi 0 means to the end.
type cutRange struct{ lo, hi int }

// parseCutList reads a GNU cut LIST ("1-2", "-3", "2-", "1,3"); errors
// (zero, decreasing, empty ranges) fall back to cut's own message.
func parseCutList(s string) ([]cutRange, bool) {
	var rs []cutRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		num := func(t string) (int, bool) {
			if t == "" || len(t) > 9 || strings.Trim(t, "0123456789") != "" {
				return 0, false
			}
			n, _ := strconv.Atoi(t)
			return n, n > 0
		}
		var r cutRange
		var ok bool
		switch {
		case !isRange:
			r.lo, ok = num(lo)
			r.hi = r.lo
		case lo == "" && hi == "":
			return nil, false
		case lo == "":
			r.lo = 1
			r.hi, ok = num(hi)
		case hi == "":
			r.lo, ok = num(lo)
		default:
			r.lo, ok = num(lo)
			var ok2 bool
			r.hi, ok2 = num(hi)
			ok = ok && ok2 && r.hi >= r.lo
		}
		if !ok {
			return nil, false
		}
		rs = append(rs, r)
	}
	return rs, len(rs) > 0
}

func (r cutRange) has(i int) bool { return i >= r.lo && (r.hi == 0 || i <= r.hi) }

func inRanges(rs []cutRange, i int) bool {
	for _, r := range rs {
		if r.has(i) {
			return true
		}
	}
	return false
}

// gnuCut is GNU cut -f (with -d, -s, --output-delimiter) or -c on stdin.
func gnuCut(c *cmdIO, args []string) (int, error) {
	opts, operands, ok := getopt(args, "cdf", "s", map[string]bool{"output-delimiter": true})
	if !ok || len(operands) > 0 {
		return 0, errFallback
	}
	var fields, chars []cutRange
	delim, outDelim, hasOut, only := "\t", "", false, false
	nLists := 0
	for _, o := range opts {
		switch o.name {
		case "-f", "-c":
			rs, ok := parseCutList(o.val)
			if !ok {
				return 0, errFallback
			}
			nLists++
			if o.name == "-f" {
				fields = rs
			} else {
				chars = rs
			}
		case "-d":
			// A newline delimiter makes GNU cut read the whole input as
			// one record (FuzzShellPipeline): left to the real cut.
			if len(o.val) != 1 || o.val == "\n" {
				return 0, errFallback
			}
			delim = o.val
		case "-s":
			only = true
		case "--output-delimiter":
			if o.val == "" {
				return 0, errFallback // GNU gives the empty string its own meaning
			}
			outDelim, hasOut = o.val, true
		}
	}
	// One list; -d and -s only with -f; --output-delimiter with -c inserts
	// between ranges, which we do not model.
	if nLists != 1 || (chars != nil && (hasOut || only || delim != "\t")) {
		return 0, errFallback
	}
	if !hasOut {
		outDelim = delim
	}
	in, err := c.input()
	if err != nil {
		return 0, err
	}
	ls, _ := lines(in)
	var b strings.Builder
	for _, l := range ls {
		if chars != nil {
			for i := 0; i < len(l); i++ {
				if inRanges(chars, i+1) {
					b.WriteByte(l[i])
				}
			}
			b.WriteByte('\n')
			continue
		}
		if !strings.Contains(l, delim) {
			if !only {
				b.WriteString(l)
				b.WriteByte('\n')
			}
			continue
		}
		first := true
		for i, f := range strings.Split(l, delim) {
			if inRanges(fields, i+1) {
				if !first {
					b.WriteString(outDelim)
				}
				b.WriteString(f)
				first = false
			}
		}
		b.WriteByte('\n')
	}
	return 0, c.write(b.String())
}

// gnuTr is GNU tr SET1 SET2 and tr -d SET1 with literal sets (no ranges,
// classes, escapes or repeated characters).
func gnuTr(c *cmdIO, args []string) (int, error) {
	del := false
	if len(args) > 0 && args[0] == "-d" {
		del, args = true, args[1:]
	}
	if del && len(args) != 1 || !del && len(args) != 2 {
		return 0, errFallback
	}
	for i, s := range args {
		if s == "" || strings.ContainsAny(s, `\[`) || (s != "-" && strings.Contains(s, "-")) {
			return 0, errFallback
		}
		if i == 0 && !del && s[0] == '-' {
			return 0, errFallback
		}
	}
	set1 := args[0]
	var table [128]int16
	for i := range table {
		table[i] = int16(i)
	}
	for i := 0; i < len(set1); i++ {
		if strings.IndexByte(set1[:i], set1[i]) >= 0 {
			return 0, errFallback
		}
		switch {
		case del:
			table[set1[i]] = -1
		default:
			set2 := args[1]
			table[set1[i]] = int16(set2[min(i, len(set2)-1)])
		}
	}
	in, err := c.input()
	if err != nil {
		return 0, err
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		if t := table[in[i]]; t >= 0 {
			out = append(out, byte(t))
		}
	}
	return 0, c.write(string(out))
}

// utilRev is util-linux rev on stdin.
func utilRev(c *cmdIO, args []string) (int, error) {
	if len(args) > 0 {
		return 0, errFallback
	}
	in, err := c.input()
	if err != nil {
		return 0, err
	}
	ls, nl := lines(in)
	var b strings.Builder
	for i, l := range ls {
		for j := len(l) - 1; j >= 0; j-- {
			b.WriteByte(l[j])
		}
		if i < len(ls)-1 || nl {
			b.WriteByte('\n')
		}
	}
	return 0, c.write(b.String())
}

// sedSubst is one s/RE/REPL/[g] command.
type sedSubst struct {
	re     *regexp.Regexp
	repl   []replPart
	global bool
}

type replPart struct {
	lit   string
	group int // -1: literal
}

// gnuSed is GNU sed with -e/-E/-r and s commands only, on stdin.
func gnuSed(c *cmdIO, args []string) (int, error) {
	opts, operands, ok := getopt(args, "e", "Er", map[string]bool{"regexp-extended": false, "expression": true})
	if !ok {
		return 0, errFallback
	}
	var scripts []string
	ere := false
	for _, o := range opts {
		switch o.name {
		case "-e", "--expression":
			scripts = append(scripts, o.val)
		default:
			ere = true
		}
	}
	if len(scripts) == 0 {
		if len(operands) == 0 {
			return 0, errFallback
		}
		scripts, operands = operands[:1], operands[1:]
	}
	if len(operands) > 0 {
		return 0, errFallback
	}
	var cmds []sedSubst
	for _, s := range scripts {
		cmd, ok := parseSedSubst(s, ere)
		if !ok {
			return 0, errFallback
		}
		cmds = append(cmds, cmd)
	}
	in, err := c.input()
	if err != nil {
		return 0, err
	}
	ls, nl := lines(in)
	var b strings.Builder
	for i, l := range ls {
		for _, cmd := range cmds {
			l = cmd.apply(l)
		}
		b.WriteString(l)
		if i < len(ls)-1 || nl {
			b.WriteByte('\n')
		}
	}
	return 0, c.write(b.String())
}

func (s sedSubst) apply(l string) string {
	n := 1
	if s.global {
		n = -1
	}
	ms := s.re.FindAllStringSubmatchIndex(l, n)
	if ms == nil {
		return l
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(l[last:m[0]])
		for _, p := range s.repl {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if m[2*p.group] >= 0 {
				b.WriteString(l[m[2*p.group]:m[2*p.group+1]])
			}
		}
		last = m[1]
	}
	b.WriteString(l[last:])
	return b.String()
}

// parseSedSubst reads "s<d>RE<d>REPL<d>[g]".
func parseSedSubst(s string, ere bool) (sedSubst, bool) {
	if len(s) < 4 || s[0] != 's' || s[1] == '\\' || s[1] == '\n' || s[1] == ' ' {
		return sedSubst{}, false
	}
	d := s[1]
	// split on unescaped delimiters; "\<d>" stands for a literal d.
	var parts []string
	var cur strings.Builder
	rest := s[2:]
	i := 0
	for ; i < len(rest) && len(parts) < 2; i++ {
		ch := rest[i]
		switch {
		case ch == '\\' && i+1 < len(rest) && rest[i+1] == d:
			if strings.IndexByte(`.[]*^$\+?(){}|&`, d) >= 0 || (d >= '0' && d <= '9') || d == 'n' {
				return sedSubst{}, false // its meaning depends on d
			}
			cur.WriteByte(d)
			i++
		case ch == '\\' && i+1 < len(rest):
			cur.WriteByte(ch)
			cur.WriteByte(rest[i+1])
			i++
		case ch == d:
			parts = append(parts, cur.String())
			cur.Reset()
		case ch == '\n':
			return sedSubst{}, false
		default:
			cur.WriteByte(ch)
		}
	}
	if len(parts) != 2 {
		return sedSubst{}, false
	}
	flags := rest[i:]
	if flags != "" && flags != "g" {
		return sedSubst{}, false
	}
	if parts[0] == "" {
		return sedSubst{}, false // empty RE: the last RE used
	}
	expr, ngroups, ok := posixToGo(parts[0], ere)
	if !ok {
		return sedSubst{}, false
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return sedSubst{}, false
	}
	re.Longest()
	repl, ok := parseSedRepl(parts[1], ngroups)
	if !ok {
		return sedSubst{}, false
	}
	return sedSubst{re: re, repl: repl, global: flags == "g"}, true
}

func parseSedRepl(s string, ngroups int) ([]replPart, bool) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '&':
			flush()
			parts = append(parts, replPart{group: 0})
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			n := s[i]
			switch {
			case n >= '1' && n <= '9':
				if int(n-'0') > ngroups {
					return nil, false
				}
				flush()
				parts = append(parts, replPart{group: int(n - '0')})
			case n == '&' || n == '\\' || n == '/' || n == '|' || n == '#' || n == ',' || n == ':' || n == '.' || n == '-' || n == '_':
				lit.WriteByte(n)
			default:
				return nil, false // \n, \t, \L, \U ... GNU extensions
			}
		case ch == '\n':
			return nil, false
		default:
			lit.WriteByte(ch)
		}
	}
	flush()
	return parts, true
}

// posixToGo translates a POSIX basic (or, with ere, extended) regular
// expression in the subset we model into Go syntax, to be compiled with
// leftmost-longest matching like glibc's. It refuses GNU extensions (\+, \?,
// \|, \{, \w, \s, \b, \<), back references, interval expressions, character
// classes and anchors in the middle.
func posixToGo(s string, ere bool) (string, int, bool) {
	var b strings.Builder
	b.WriteString("(?s)")
	groups, open := 0, 0
	atom := false // something a * can repeat precedes
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			n := s[i]
			switch {
			case !ere && n == '(':
				b.WriteByte('(')
				groups++
				open++
				atom = false
			case !ere && n == ')':
				if open == 0 || emptyGroup(b.String()) {
					return "", 0, false
				}
				b.WriteByte(')')
				open--
				atom = true
			case strings.IndexByte(`.[]*^$\/`, n) >= 0 || (ere && strings.IndexByte(`+?(){}|`, n) >= 0):
				b.WriteString(regexp.QuoteMeta(string(n)))
				atom = true
			default:
				return "", 0, false
			}
		case ch == '.':
			b.WriteByte('.')
			atom = true
		case ch == '*':
			if !atom {
				return "", 0, false // literal * at the start: rare, not modelled
			}
			if i+1 < len(s) && (s[i+1] == '*' || (ere && (s[i+1] == '+' || s[i+1] == '?'))) {
				return "", 0, false
			}
			b.WriteByte('*')
			atom = false
		case ch == '^':
			if i != 0 {
				return "", 0, false
			}
			b.WriteByte('^')
		case ch == '$':
			if i != len(s)-1 {
				if !ere || s[i+1] != '|' {
					return "", 0, false
				}
			}
			b.WriteByte('$')
			atom = false
		case ch == '[':
			j, class, ok := bracket(s, i)
			if !ok {
				return "", 0, false
			}
			b.WriteString(class)
			i = j
			atom = true
		case ere && (ch == '+' || ch == '?'):
			if !atom || (i+1 < len(s) && strings.IndexByte("*+?", s[i+1]) >= 0) {
				return "", 0, false
			}
			b.WriteByte(ch)
			atom = false
		case ere && ch == '(':
			if i+1 < len(s) && (s[i+1] == ')' || s[i+1] == '*' || s[i+1] == '+' || s[i+1] == '?' || s[i+1] == '|') {
				return "", 0, false
			}
			b.WriteByte('(')
			groups++
			open++
			atom = false
		case ere && ch == ')':
			if open == 0 || emptyGroup(b.String()) {
				return "", 0, false
			}
			b.WriteByte(')')
			open--
			atom = true
		case ere && ch == '|':
			if i == 0 || i == len(s)-1 || s[i+1] == '|' || s[i+1] == ')' || s[i-1] == '(' {
				return "", 0, false
			}
			b.WriteByte('|')
			atom = false
			// ^ may start the next branch
			if i+1 < len(s) && s[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
		case ere && (ch == '{' || ch == '}'):
			return "", 0, false
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
			atom = true
		}
	}
	if open != 0 {
		return "", 0, false
	}
	return b.String(), groups, true
}

// emptyGroup: the translation so far ends in an open group or a branch.
func emptyGroup(sofar string) bool {
	return strings.HasSuffix(sofar, "(") || strings.HasSuffix(sofar, "|")
}

// bracket translates the bracket expression at s[i] ('['); backslash is
// literal in POSIX brackets. Classes ([:alpha:]) and collating elements
// are refused.
func bracket(s string, i int) (int, string, bool) {
	var b strings.Builder
	b.WriteByte('[')
	j := i + 1
	if j < len(s) && s[j] == '^' {
		b.WriteByte('^')
		j++
	}
	first := true
	for ; j < len(s); j++ {
		ch := s[j]
		switch {
		case ch == ']' && !first:
			if b.Len() == 1 || b.String() == "[^" {
				return 0, "", false
			}
			b.WriteByte(']')
			return j, b.String(), true
		case ch == '[' && j+1 < len(s) && strings.IndexByte(":=.", s[j+1]) >= 0:
			return 0, "", false
		case ch == '-':
			// a range between two literal characters, or a literal - at an end
			if first || (j+1 < len(s) && s[j+1] == ']') {
				b.WriteString(`\-`)
			} else {
				if j+1 >= len(s) || s[j+1] < s[j-1] || s[j-1] == '-' || s[j+1] == '[' || s[j+1] == '-' {
					return 0, "", false
				}
				b.WriteByte('-')
			}
		default:
			if strings.IndexByte(`\^[]`, ch) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(ch)
		}
		first = false
	}
	return 0, "", false
}

// gnuGrep is GNU grep [-q] [-v] [-i] [-E] PATTERN on stdin.
func gnuGrep(c *cmdIO, args []string) (int, error) {
	opts, operands, ok := getopt(args, "", "qviE", nil)
	if !ok || len(operands) != 1 {
		return 0, errFallback
	}
	quiet, invert, icase, ere := false, false, false, false
	for _, o := range opts {
		switch o.name {
		case "-q":
			quiet = true
		case "-v":
			invert = true
		case "-i":
			icase = true
		case "-E":
			ere = true
		}
	}
	pat := operands[0]
	if pat == "" || strings.Contains(pat, "\n") {
		return 0, errFallback
	}
	expr, _, ok := posixToGo(pat, ere)
	if !ok {
		return 0, errFallback
	}
	if icase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return 0, errFallback
	}
	in, err := c.input()
	if err != nil {
		return 0, err
	}
	ls, _ := lines(in)
	var b strings.Builder
	found := false
	for _, l := range ls {
		if re.MatchString(l) != invert {
			found = true
			if quiet {
				break
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if err := c.write(b.String()); err != nil {
		return 0, err
	}
	if found {
		return 0, nil
	}
	return 1, nil
}
