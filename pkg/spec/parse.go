package spec

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const maxIncludeDepth = 16

type lineSource struct {
	file    string
	lines   []logicalLine
	idx     int
	pending []string
	line    int
	conds   int // len(p.conds) when the file was opened
}

type cond struct {
	reading bool // lines in the current branch are read
	taken   bool // a branch of this %if has been taken (or the %if is inside a false branch)
	sawElse bool
	file    string
	line    int
}

type parser struct {
	r         *Reader
	m         *Macros
	s         *Spec
	srcs      []*lineSource
	conds     []cond
	file      string
	line      int
	section   string
	pkg       *Package
	pkgs      map[string]*Package
	mainPkg   *Package
	subArch   map[*Package]string
	files     map[*Package]bool
	descs     map[*Package]bool
	setupDir  string
	firstPass bool
	nextSrc   int
	nextPat   int
	clog      strings.Builder
	inClog    bool
}

func (p *parser) errf(format string, a ...any) error {
	var cause error
	for _, v := range a {
		if err, ok := v.(error); ok && cause == nil {
			cause = err
		}
	}
	if p.included() {
		a = redactIncluded(a)
	}
	return &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, a...), Err: cause}
}

// included reports whether the current line comes from an %include.
func (p *parser) included() bool {
	return p.file != p.s.Path
}

func (p *parser) reading() bool {
	return len(p.conds) == 0 || p.conds[len(p.conds)-1].reading
}

// parseOnce parses the spec on a copy of from (the Reader's base, or the
// macros left by the first pass) and returns the spec and its macros.
func (r *Reader) parseOnce(ctx context.Context, file string, lines []logicalLine, from *Macros, arch string) (*Spec, *Macros, error) {
	m := from.Clone()
	m.spent = &budget{ctx: ctx}
	if arch != "" {
		m.Push("_target_cpu", arch, -11)
	}
	m.sources, m.patches = map[int]string{}, map[int]string{}
	m.order = map[string]map[int]int{"sources": {}, "patches": {}}
	p := &parser{r: r, m: m, s: &Spec{Path: file}, file: file, pkgs: map[string]*Package{},
		subArch: map[*Package]string{}, files: map[*Package]bool{}, descs: map[*Package]bool{}}
	p.mainPkg = &Package{}
	p.pkg = p.mainPkg
	p.section = "preamble"
	p.srcs = []*lineSource{{file: file, lines: lines}}
	defer m.releaseLua()
	p.firstPass = arch == ""
	if err := p.run(); err == errBuildArchPass {
		return p.s, m, nil
	} else if err != nil {
		return nil, nil, err
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	p.s.Warnings = append(p.s.Warnings, m.Warnings...)
	return p.s, m, nil
}

// next returns the next line to interpret, with conditionals and %include
// already applied. It mirrors rpm's readLine: a logical line is expanded
// as a whole (only in a true branch), then handed out line by line.
func (p *parser) next() (string, bool, error) {
	for {
		if len(p.srcs) == 0 {
			return "", false, nil
		}
		src := p.srcs[len(p.srcs)-1]
		var line string
		if len(src.pending) > 0 {
			line = src.pending[0]
			src.pending = src.pending[1:]
		} else {
			if src.idx >= len(src.lines) {
				if len(p.conds) > src.conds {
					c := p.conds[len(p.conds)-1]
					return "", false, &Error{File: c.file, Line: c.line, Msg: "unclosed %if"}
				}
				p.srcs = p.srcs[:len(p.srcs)-1]
				if len(p.srcs) > 0 {
					p.file = p.srcs[len(p.srcs)-1].file
				}
				continue
			}
			if err := p.m.spent.ctx.Err(); err != nil {
				return "", false, err
			}
			ll := src.lines[src.idx]
			src.idx++
			p.file, p.line = src.file, ll.line
			text := ll.text
			if p.reading() {
				p.m.whereFile, p.m.whereLine = p.file, p.line
				expand := p.m.Expand
				if p.discardText(text) {
					expand = p.m.expandDiscarded
				}
				x, err := expand(text)
				if err != nil {
					return "", false, p.errf("%v", err)
				}
				text = x
			}
			if strings.IndexByte(text, '\n') >= 0 {
				parts := strings.Split(text, "\n")
				line, src.pending = parts[0], parts[1:]
			} else {
				line = text
			}
		}
		handled, err := p.conditional(line)
		if err != nil {
			return "", false, err
		}
		if handled || !p.reading() {
			continue
		}
		t := strings.TrimLeft(line, " \t")
		if isDirective(t, "%include") {
			f := strings.TrimSpace(t[len("%include"):])
			if f == "" {
				return "", false, p.errf("%%include needs a file name")
			}
			if len(p.srcs) >= maxIncludeDepth {
				return "", false, p.errf("%%include nested too deeply")
			}
			data, err := readBounded(f)
			if err == nil {
				err = p.m.spent.spend(len(data))
			}
			if err != nil {
				return "", false, p.errf("%%include: %v", err)
			}
			p.srcs = append(p.srcs, &lineSource{file: f, lines: logicalLines(string(data)), conds: len(p.conds)})
			continue
		}
		return line, true, nil
	}
}

// isDirective reports whether s starts with the directive kw followed by a
// blank or the end of the line.
func isDirective(s, kw string) bool {
	if !strings.HasPrefix(s, kw) {
		return false
	}
	if len(s) == len(kw) {
		return true
	}
	c := s[len(kw)]
	return c == ' ' || c == '\t'
}

// isBareDirective is rpm's ISMACRO: kw not followed by a letter.
func isBareDirective(s, kw string) bool {
	if !strings.HasPrefix(s, kw) {
		return false
	}
	if len(s) == len(kw) {
		return true
	}
	c := s[len(kw)]
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

func (p *parser) conditional(line string) (bool, error) {
	t := strings.TrimLeft(line, " \t")
	if len(t) < 3 || t[0] != '%' || (t[1] != 'i' && t[1] != 'e') {
		return false, nil
	}
	top := func() *cond { return &p.conds[len(p.conds)-1] }
	switch {
	case isDirective(t, "%if"), isDirective(t, "%ifarch"), isDirective(t, "%ifnarch"), isDirective(t, "%ifos"), isDirective(t, "%ifnos"):
		c := cond{file: p.file, line: p.line}
		if !p.reading() {
			c.taken = true
		} else {
			ok, err := p.test(t)
			if err != nil {
				return true, err
			}
			c.reading, c.taken = ok, ok
		}
		if len(p.conds) > 256 {
			return true, p.errf("conditionals nested too deeply")
		}
		p.conds = append(p.conds, c)
		return true, nil
	case isDirective(t, "%elif"), isDirective(t, "%elifarch"), isDirective(t, "%elifos"):
		if len(p.conds) == 0 {
			return true, p.errf("%s with no %%if", strings.Fields(t)[0])
		}
		c := top()
		if c.sawElse {
			return true, p.errf("%s after %%else", strings.Fields(t)[0])
		}
		if c.taken {
			c.reading = false
			return true, nil
		}
		ok, err := p.test("%if" + t[len("%elif"):])
		if err != nil {
			return true, err
		}
		c.reading, c.taken = ok, ok
		return true, nil
	case isBareDirective(t, "%else"):
		if len(p.conds) == 0 {
			return true, p.errf("%%else with no %%if")
		}
		c := top()
		if c.sawElse {
			return true, p.errf("%%else after %%else")
		}
		c.sawElse = true
		c.reading = !c.taken
		c.taken = true
		return true, nil
	case isBareDirective(t, "%endif"):
		if len(p.conds) == 0 {
			return true, p.errf("%%endif with no %%if")
		}
		src := p.srcs[len(p.srcs)-1]
		if len(p.conds) <= src.conds {
			return true, p.errf("%%endif closes an %%if of another file")
		}
		p.conds = p.conds[:len(p.conds)-1]
		return true, nil
	}
	return false, nil
}

// test evaluates the condition of "%if EXPR", "%ifarch LIST", ...
func (p *parser) test(t string) (bool, error) {
	kw := t
	if i := strings.IndexAny(t, " \t"); i >= 0 {
		kw = t[:i]
	}
	arg := strings.TrimSpace(t[len(kw):])
	switch kw {
	case "%if":
		ok, err := p.m.EvalBool(arg)
		if err != nil {
			return false, p.errf("bad %%if condition %q: %v", clip(arg), err)
		}
		return ok, nil
	case "%ifarch", "%ifnarch":
		cpu, _ := p.m.Expand("%{_target_cpu}")
		return matchList(arg, cpu) == (kw == "%ifarch"), nil
	case "%ifos", "%ifnos":
		osName, _ := p.m.Expand("%{_target_os}")
		return matchList(arg, osName) == (kw == "%ifos"), nil
	}
	return false, p.errf("unknown conditional %s", kw)
}

func matchList(list, v string) bool {
	for _, w := range strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		if w == v {
			return true
		}
	}
	return false
}

var sectionNames = []string{
	"package", "description", "prep", "generate_buildrequires", "conf", "build", "install", "check", "clean",
	"files", "changelog", "pre", "post", "preun", "postun", "pretrans", "posttrans", "preuntrans",
	"postuntrans", "verifyscript", "trigger", "triggerin", "triggerun", "triggerprein", "triggerpostun",
	"filetriggerin", "filetriggerun", "filetriggerpostun", "transfiletriggerin", "transfiletriggerun",
	"transfiletriggerpostun", "sepolicy", "patchlist", "sourcelist", "end",
}

var sectionSet = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range sectionNames {
		m[s] = true
	}
	return m
}()

var scriptlets = map[string]string{
	"pre": "pre", "post": "post", "preun": "preun", "postun": "postun", "pretrans": "pretrans",
	"posttrans": "posttrans", "preuntrans": "preuntrans", "postuntrans": "postuntrans", "verifyscript": "verify",
	"trigger": "", "triggerin": "", "triggerun": "", "triggerprein": "", "triggerpostun": "",
	"filetriggerin": "", "filetriggerun": "", "filetriggerpostun": "", "transfiletriggerin": "",
	"transfiletriggerun": "", "transfiletriggerpostun": "",
}

func sectionOf(line string) string {
	if len(line) < 2 || line[0] != '%' {
		return ""
	}
	i := 1
	for i < len(line) && (isNameChar(line[i])) {
		i++
	}
	name := line[1:i]
	if !sectionSet[name] {
		return ""
	}
	if i < len(line) && line[i] != ' ' && line[i] != '\t' {
		return ""
	}
	return name
}

func (p *parser) run() error {
	for {
		line, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if sec := sectionOf(line); sec != "" {
			if err := p.startSection(sec, line); err != nil {
				return err
			}
			continue
		}
		switch p.section {
		case "preamble", "package":
			if err := p.preamble(line); err != nil {
				return err
			}
		case "changelog":
			p.clog.WriteString(line)
			p.clog.WriteByte('\n')
		case "prep":
			p.prep(line)
		}
	}
	return nil
}

// keptSections are those whose text keel reads; in all others (scripts,
// %files, descriptions) only what a line defines matters, not the line.
var keptSections = map[string]bool{"preamble": true, "package": true, "prep": true, "changelog": true}

// discardText reports whether the expansion of raw line text is thrown
// away: a line of a section keel does not read that is not a conditional
// or a section header as written (those decide what is read).
func (p *parser) discardText(text string) bool {
	if keptSections[p.section] {
		return false
	}
	t := strings.TrimLeft(text, " \t")
	if len(t) < 2 || t[0] != '%' {
		return true
	}
	i := 1
	for i < len(t) && isNameChar(t[i]) {
		i++
	}
	name := t[1:i]
	return !(strings.HasPrefix(name, "if") || strings.HasPrefix(name, "el") || name == "endif" || sectionSet[name])
}

// sectionArgs parses "[-n] [name] [-p prog] [-f file] [-- ...]" and returns
// the package the section belongs to.
func (p *parser) sectionArgs(sec, line string) (pkg *Package, name string, interp string, err error) {
	pkg, name, interp, _, err = p.sectionArgsX(sec, line)
	return
}

func (p *parser) sectionArgsX(sec, line string) (pkg *Package, name string, interp string, expand bool, err error) {
	words := strings.Fields(line)[1:]
	full := false
	var sub string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--":
			i = len(words)
		case w == "-n":
			full = true
		case w == "-p" || w == "-f" || w == "-l" || w == "-P":
			if i+1 >= len(words) {
				return nil, "", "", false, p.errf("%%%s: option %s needs an argument", sec, w)
			}
			if w == "-p" {
				interp = words[i+1]
			}
			i++
		case w == "-e":
			expand = true
		case strings.HasPrefix(w, "-p") && len(w) > 2:
			interp = w[2:]
		case strings.HasPrefix(w, "-"):
			// -e, -q, -f<file> and friends: no effect on what we record
		default:
			if sub != "" {
				return nil, "", "", false, p.errf("%%%s: too many names: %s", sec, line)
			}
			sub = w
		}
	}
	if full && sub == "" {
		return nil, "", "", false, p.errf("%%%s: -n needs a package name", sec)
	}
	switch {
	case sub == "":
		name = p.mainPkg.Name
	case full:
		name = sub
	default:
		name = p.mainPkg.Name + "-" + sub
	}
	if sec == "package" {
		return nil, name, interp, expand, nil
	}
	pkg = p.pkgs[name]
	if pkg == nil {
		return nil, name, interp, expand, p.errf("package %s does not exist", name)
	}
	return pkg, name, interp, expand, nil
}

var unexpandedRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`%\{[!?]*[A-Za-z_][A-Za-z0-9_]*[:}]|%[A-Za-z_][A-Za-z0-9_]*`)
})

// errBuildArchPass stops the first pass of a spec at the main package's
// BuildArch tag: rpm reads only that far before parsing again for the arch.
var errBuildArchPass = errors.New("reparse for BuildArch")

func (p *parser) startSection(sec, line string) error {
	if p.section == "preamble" && p.mainPkg.Name == "" {
		return p.errf("Name field must be present before %%%s", sec)
	}
	if p.section == "preamble" && p.pkgs[p.mainPkg.Name] == nil {
		p.pkgs[p.mainPkg.Name] = p.mainPkg
		p.s.Packages = append(p.s.Packages, p.mainPkg)
	}
	if p.section == "prep" && p.setupDir != "" {
		p.m.Push("buildsubdir", p.setupDir, -3)
		p.setupDir = ""
	}
	p.section = sec
	switch sec {
	case "package":
		_, name, _, err := p.sectionArgs(sec, line)
		if err != nil {
			return err
		}
		if p.pkgs[name] != nil {
			return p.errf("package already exists: %s", name)
		}
		pkg := &Package{Name: name}
		p.pkgs[name] = pkg
		p.s.Packages = append(p.s.Packages, pkg)
		p.pkg = pkg
	case "description", "files":
		pkg, _, _, err := p.sectionArgs(sec, line)
		if err != nil {
			return err
		}
		if sec == "files" {
			if p.files[pkg] {
				return p.errf("second %%files list for %s", pkg.Name)
			}
			p.files[pkg] = true
			pkg.HasFiles = true
		} else {
			if p.descs[pkg] {
				return p.errf("second %%description for %s", pkg.Name)
			}
			p.descs[pkg] = true
			pkg.HasDescription = true
		}
	case "check":
		p.s.HasCheck = true
	case "changelog":
		p.inClog = true
		// The changelog is usually the rest of the file and most of it:
		// size the buffer once instead of doubling it line by line.
		if src := p.srcs[len(p.srcs)-1]; p.clog.Len() == 0 {
			n := 0
			for _, l := range src.lines[src.idx:] {
				n += len(l.text) + 1
			}
			p.clog.Grow(n)
		}
	default:
		if q, ok := scriptlets[sec]; ok {
			pkg, _, interp, expand, err := p.sectionArgsX(sec, line)
			if err != nil {
				return err
			}
			if expand {
				pkg.Requires = append(pkg.Requires, Dep{Name: "rpmlib(ScriptletExpansion)", Op: "<=", EVR: "4.9.0-1", Qualifier: []string{"rpmlib"}})
			}
			if interp == "" {
				interp = "/bin/sh"
			}
			var quals []string
			if q != "" {
				quals = []string{q}
			}
			quals = append(quals, "interp")
			if strings.HasPrefix(interp, "<") {
				if interp == "<lua>" {
					pkg.Requires = append(pkg.Requires, Dep{Name: "rpmlib(BuiltinLuaScripts)", Op: "<=", EVR: "4.2.2-1", Qualifier: []string{"rpmlib"}})
				}
			} else if strings.HasPrefix(interp, "/") {
				pkg.Requires = append(pkg.Requires, Dep{Name: interp, Qualifier: quals})
			} else {
				return p.errf("%%%s: script program must begin with '/': %s", sec, interp)
			}
		}
	}
	return nil
}

// tags whose value rpm also defines as a macro.
var macroTags = map[string]bool{
	"name": true, "version": true, "release": true, "epoch": true, "summary": true, "license": true,
	"distribution": true, "disturl": true, "vendor": true, "group": true, "packager": true, "url": true,
	"vcs": true, "disttag": true, "bugurl": true, "translationurl": true, "upstreamreleases": true,
	"removepathpostfixes": true, "modularitylabel": true,
}

var knownTags = map[string]bool{
	"name": true, "version": true, "release": true, "epoch": true, "summary": true, "license": true,
	"distribution": true, "disturl": true, "vendor": true, "group": true, "packager": true, "url": true,
	"vcs": true, "source": true, "patch": true, "nosource": true, "nopatch": true, "excludearch": true,
	"exclusivearch": true, "excludeos": true, "exclusiveos": true, "icon": true, "provides": true,
	"requires": true, "recommends": true, "suggests": true, "supplements": true, "enhances": true,
	"prereq": true, "conflicts": true, "obsoletes": true, "prefixes": true, "prefix": true,
	"buildroot": true, "buildarchitectures": true, "buildarch": true, "buildconflicts": true,
	"buildprereq": true, "buildrequires": true, "autoreqprov": true, "autoreq": true, "autoprov": true,
	"docdir": true, "disttag": true, "bugurl": true, "translationurl": true, "upstreamreleases": true,
	"orderwithrequires": true, "removepathpostfixes": true, "modularitylabel": true,
}

func (p *parser) preamble(line string) error {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' {
		return nil
	}
	i := 0
	for i < len(t) && (t[i] >= 'a' && t[i] <= 'z' || t[i] >= 'A' && t[i] <= 'Z') {
		i++
	}
	word := strings.ToLower(t[:i])
	num := -1
	if word == "source" || word == "patch" {
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if j > i {
			n, err := strconv.Atoi(t[i:j])
			if err != nil {
				return p.errf("bad %s number: %s", word, t[i:j])
			}
			num = n
		}
		i = j
	}
	var qual string
	if i < len(t) && t[i] == '(' {
		j := strings.IndexByte(t[i:], ')')
		if j < 0 {
			return p.errf("bad tag qualifier: %s", t)
		}
		qual = t[i+1 : i+j]
		i += j + 1
	}
	for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
		i++
	}
	if !knownTags[word] || i >= len(t) || t[i] != ':' {
		return p.errf("Unknown tag: %s", t)
	}
	if qual != "" && word != "requires" && word != "prereq" && word != "orderwithrequires" {
		return p.errf("tag %s takes no qualifier: %s", word, t)
	}
	val := strings.TrimSpace(t[i+1:])
	if val == "" {
		return p.errf("Empty tag: %s", t[:i+1])
	}
	main := p.pkg == p.mainPkg
	pkg := p.pkg
	if m := unexpandedRE().FindString(val); m != "" && word != "source" && word != "patch" && word != "url" && word != "bugurl" {
		// rpm keeps unknown macros as text; say so, it is nearly always a
		// missing --define (e.g. the dist tag or a distro macro).
		p.s.Warnings = append(p.s.Warnings, fmt.Sprintf("%s:%d: unknown macro %s in %s", p.file, p.line, m, t[:i]))
	}
	switch word {
	case "name":
		if !main {
			return p.errf("Name tag is only allowed in the main package")
		}
		if strings.ContainsAny(val, " \t") {
			return p.errf("Name must be a single word: %s", val)
		}
		p.mainPkg.Name = val
		p.s.Name = val
	case "version", "release":
		if err := checkVR(val); err != nil {
			return p.errf("%s: %v", t[:i], err)
		}
		switch {
		case !main && word == "version":
			pkg.Version = val
		case !main:
			pkg.Release = val
		case word == "version":
			p.s.Version = val
		default:
			p.s.Release = val
		}
	case "epoch":
		if _, err := strconv.ParseUint(val, 10, 32); err != nil {
			return p.errf("Epoch field must be an unsigned number: %s", val)
		}
		if main {
			p.s.Epoch = val
		} else {
			pkg.Epoch = val
		}
	case "summary":
		pkg.Summary = val
		if main {
			p.s.Summary = val
		}
	case "license":
		if main {
			p.s.License = val
		}
	case "url":
		if main {
			p.s.URL = val
		}
	case "source", "patch":
		if num < 0 {
			if word == "source" {
				num = p.nextSrc
			} else {
				num = p.nextPat
			}
		}
		file := path.Base(val)
		if i := strings.LastIndex(val, "#/"); i >= 0 {
			file = path.Base(val[i+2:])
		}
		src := Source{Num: num, URL: val, File: file}
		sd, _ := p.m.Expand("%{_sourcedir}")
		full := sd + "/" + file
		if word == "source" {
			for _, s := range p.s.Sources {
				if s.Num == num {
					return p.errf("source %d defined multiple times", num)
				}
			}
			p.s.Sources = append(p.s.Sources, src)
			p.nextSrc = num + 1
			p.m.sources[num] = full
			p.m.srcVersion++
			p.m.order["sources"][num] = len(p.s.Sources)
			p.m.Push("SOURCE"+strconv.Itoa(num), full, -3)
			p.m.Push("SOURCEURL"+strconv.Itoa(num), val, -3)
		} else {
			for _, s := range p.s.Patches {
				if s.Num == num {
					return p.errf("patch %d defined multiple times", num)
				}
			}
			p.s.Patches = append(p.s.Patches, src)
			p.nextPat = num + 1
			p.m.patches[num] = full
			p.m.srcVersion++
			p.m.order["patches"][num] = len(p.s.Patches)
			p.m.Push("PATCH"+strconv.Itoa(num), full, -3)
			p.m.Push("PATCHURL"+strconv.Itoa(num), val, -3)
		}
	case "buildarch", "buildarchitectures":
		archs := strings.FieldsFunc(val, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if len(archs) == 0 {
			return p.errf("%s: no architecture", t[:i])
		}
		if main {
			p.s.BuildArch = archs[0]
			if p.firstPass {
				// rpm stops reading at this tag and parses the spec again.
				return errBuildArchPass
			}
		} else {
			if len(archs) != 1 || archs[0] != "noarch" {
				return p.errf("only noarch subpackages are supported: %s", val)
			}
			p.subArch[pkg] = "noarch"
		}
	case "exclusivearch", "excludearch":
		archs := strings.FieldsFunc(val, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if word == "exclusivearch" {
			p.s.ExclusiveArch = append(p.s.ExclusiveArch, archs...)
		} else {
			p.s.ExcludeArch = append(p.s.ExcludeArch, archs...)
		}
	case "requires", "prereq", "provides", "conflicts", "obsoletes", "recommends", "suggests",
		"supplements", "enhances", "buildrequires", "buildconflicts", "buildprereq", "orderwithrequires":
		deps, err := ParseDeps(val)
		if err != nil {
			return p.errf("%v", err)
		}
		if qual != "" {
			qs := strings.FieldsFunc(qual, func(r rune) bool { return r == ',' || r == ' ' })
			for _, q := range qs {
				switch q {
				case "pre", "post", "preun", "postun", "pretrans", "posttrans", "preuntrans", "postuntrans", "verify", "interp", "meta":
				default:
					return p.errf("bad Requires qualifier %q", q)
				}
			}
			for k := range deps {
				deps[k].Qualifier = qs
			}
		}
		for _, d := range deps {
			if err := richContext(word, d); err != nil {
				return p.errf("%v", err)
			}
		}
		switch word {
		case "requires", "prereq":
			pkg.Requires = append(pkg.Requires, deps...)
		case "provides":
			for _, d := range deps {
				if d.Rich {
					return p.errf("no rich dependencies allowed for Provides: %s", d.Name)
				}
			}
			pkg.Provides = append(pkg.Provides, deps...)
		case "conflicts":
			pkg.Conflicts = append(pkg.Conflicts, deps...)
		case "obsoletes":
			pkg.Obsoletes = append(pkg.Obsoletes, deps...)
		case "recommends":
			pkg.Recommends = append(pkg.Recommends, deps...)
		case "suggests":
			pkg.Suggests = append(pkg.Suggests, deps...)
		case "supplements":
			pkg.Supplements = append(pkg.Supplements, deps...)
		case "enhances":
			pkg.Enhances = append(pkg.Enhances, deps...)
		case "buildrequires", "buildprereq":
			p.s.BuildRequires = append(p.s.BuildRequires, deps...)
		case "buildconflicts":
			p.s.BuildConflicts = append(p.s.BuildConflicts, deps...)
		}
	}
	if macroTags[word] {
		p.m.Push(word, val, -3)
		if main {
			p.m.Push(strings.ToUpper(word), val, -3)
		}
	}
	return nil
}

// prep notes what %setup does to the macro context: it defines
// buildsubdir, which %install's debuginfo hook looks at.
func (p *parser) prep(line string) {
	t := strings.TrimLeft(line, " \t")
	if !isDirective(t, "%setup") {
		return
	}
	dir := p.s.Name + "-" + p.s.Version
	w := strings.Fields(t)
	for i := 1; i < len(w); i++ {
		if w[i] == "-n" && i+1 < len(w) {
			dir = w[i+1]
			i++
		}
	}
	// rpm runs %setup when the whole %prep section has been read, so the
	// line that ends %prep is expanded before buildsubdir exists.
	p.setupDir = dir
}

// richContext applies rpm's rules on where rich operators may appear:
// none in Provides/Obsoletes, no "if" in the negative or reverse tags
// (Conflicts, Supplements, Enhances), no "unless" in the others.
func richContext(tag string, d Dep) error {
	if !d.Rich {
		return nil
	}
	switch tag {
	case "provides", "obsoletes":
		return fmt.Errorf("no rich dependencies allowed for %s: %s", tag, d.Name)
	}
	r, err := ParseRich(d.Name)
	if err != nil {
		return err
	}
	bad, use := "unless", "or"
	switch tag {
	case "conflicts", "buildconflicts", "supplements", "enhances":
		bad, use = "if", "and"
	}
	var walk func(*Rich) error
	walk = func(r *Rich) error {
		if r.Op == bad {
			return fmt.Errorf("illegal context for '%s', please use '%s' instead: %s", bad, use, d.Name)
		}
		for _, a := range r.Args {
			if err := walk(a); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(r)
}

func checkVR(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isNameChar(c) || strings.IndexByte("._+%{}~^", c) >= 0) {
			return fmt.Errorf("illegal char %q in %q", c, v)
		}
	}
	return nil
}

func (p *parser) finish() error {
	s := p.s
	p.line = 0
	if p.section == "preamble" {
		if s.Name == "" {
			return p.errf("Name field must be present")
		}
		if p.pkgs[s.Name] == nil {
			p.pkgs[s.Name] = p.mainPkg
			s.Packages = append(s.Packages, p.mainPkg)
		}
	}
	for _, f := range []struct{ v, n string }{{s.Version, "Version"}, {s.Release, "Release"}, {s.Summary, "Summary"}, {s.License, "License"}} {
		if f.v == "" {
			return p.errf("%s field must be present in package: (main package)", f.n)
		}
	}
	isa, _ := p.m.Expand("%{?_isa}")
	arch, _ := p.m.Expand("%{_target_cpu}")
	if s.BuildArch != "" {
		arch = s.BuildArch
	}
	for _, pkg := range s.Packages {
		if pkg.Version == "" {
			pkg.Version = s.Version
		}
		if pkg.Release == "" {
			pkg.Release = s.Release
		}
		if pkg.Epoch == "" {
			pkg.Epoch = s.Epoch
		}
		evr := pkg.EVR()
		if pkg.Summary == "" {
			return p.errf("Summary field must be present in package: %s", pkg.Name)
		}
		if !pkg.HasDescription {
			return p.errf("Package has no %%description: %s", pkg.Name)
		}
		pkg.Arch = arch
		if a, ok := p.subArch[pkg]; ok {
			pkg.Arch = a
		}
		pkg.Provides = append(pkg.Provides, Dep{Name: pkg.Name, Op: "=", EVR: evr})
		if pkg.Arch != "noarch" && isa != "" {
			pkg.Provides = append(pkg.Provides, Dep{Name: pkg.Name + isa, Op: "=", EVR: evr})
		}
		for _, l := range []*[]Dep{&pkg.Requires, &pkg.Provides, &pkg.Conflicts, &pkg.Obsoletes, &pkg.Recommends, &pkg.Suggests, &pkg.Supplements, &pkg.Enhances} {
			*l = dedupDeps(*l)
		}
	}
	s.BuildRequires = dedupDeps(s.BuildRequires)
	s.BuildConflicts = dedupDeps(s.BuildConflicts)
	var err error
	// rpm keeps the entries before a malformed one and goes on (a warning).
	s.Changelog, err = parseChangelog(p.clog.String())
	if err != nil {
		s.Warnings = append(s.Warnings, p.file+": "+err.Error())
	}
	return nil
}

// dedupDeps drops repeated dependencies (rpm keeps one of each name+op+evr,
// merging qualifiers) and keeps the first-seen order.
func dedupDeps(ds []Dep) []Dep {
	if len(ds) < 2 {
		return ds
	}
	seen := map[string]int{}
	out := ds[:0:0]
	for _, d := range ds {
		k := d.String()
		if i, ok := seen[k]; ok {
			out[i].Qualifier = mergeQual(out[i].Qualifier, d.Qualifier)
			continue
		}
		seen[k] = len(out)
		out = append(out, d)
	}
	return out
}

func mergeQual(a, b []string) []string {
	m := map[string]bool{}
	for _, q := range a {
		m[q] = true
	}
	for _, q := range b {
		if !m[q] {
			a = append(a, q)
			m[q] = true
		}
	}
	sort.Strings(a)
	return a
}

var (
	weekdays = map[string]bool{"Sun": true, "Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true}
	months   = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
)

// zoneOffset is how rpm reads the zone of an extended changelog date: it
// sets TZ to the name, so a zoneinfo name (CET, EST, UTC) applies with its
// standard (non-DST) offset and anything else (PST) counts as UTC.
func zoneOffset(name string, year int) time.Duration {
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		return 0
	}
	_, off := time.Date(year, time.January, 1, 0, 0, 0, 0, loc).Zone()
	return time.Duration(off) * time.Second
}

// changelogDate parses "Www Mmm DD YYYY" as rpm does (three-letter names).
func changelogDate(wd, mon, day, year string) (time.Time, bool) {
	m, ok := months[mon]
	if !ok || !weekdays[wd] {
		return time.Time{}, false
	}
	d, err1 := strconv.Atoi(day)
	y, err2 := strconv.Atoi(year)
	if err1 != nil || err2 != nil || d < 1 || d > 31 || y < 1900 || y > 9999 {
		return time.Time{}, false
	}
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC), true // rpm stores noon
}

// parseChangelog splits %changelog text into entries. Each starts with
// "* Www Mmm DD YYYY author"; like rpm, a malformed header ends the
// changelog (the entries before it are kept and an error is returned).
func parseChangelog(text string) ([]Changelog, error) {
	var out []Changelog
	var cur Changelog
	have := false
	bodyStart, bodyEnd := 0, 0
	flush := func() {
		if have {
			cur.Text = strings.TrimRight(text[bodyStart:bodyEnd], "\n \t")
			out = append(out, cur)
		}
	}
	for pos := 0; pos < len(text); {
		end := strings.IndexByte(text[pos:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += pos
		}
		l := text[pos:end]
		next := end + 1
		if strings.HasPrefix(l, "*") {
			flush()
			f, nf, author4, author6 := headerFields(l[1:])
			if nf < 4 {
				return out, fmt.Errorf("%%changelog: bad entry header %q", clip(l))
			}
			ts, ok := changelogDate(f[0], f[1], f[2], f[3])
			author := author4
			if !ok && nf >= 6 {
				// "Mon Jan 02 10:00:00 UTC 2006" (rpm's extended format)
				t, err := time.Parse("Mon Jan 2 15:04:05 2006", f[0]+" "+f[1]+" "+f[2]+" "+f[3]+" "+f[5])
				ts, ok, author = t.Add(-zoneOffset(f[4], t.Year())), err == nil, author6
			}
			if !ok {
				return out, fmt.Errorf("%%changelog: bad date in %q", clip(l))
			}
			if len(out) > 0 && ts.After(out[len(out)-1].Time) || have && ts.After(cur.Time) {
				return out, fmt.Errorf("%%changelog not in descending chronological order: %q", clip(l))
			}
			cur, have = Changelog{Time: ts.UTC(), Author: author}, true
			// Like rpm, the text starts after the blanks that follow the
			// header, and its first line belongs to it even if it starts
			// with "*"; the entry ends at the next line starting with "*".
			start := min(next, len(text))
			for start < len(text) && isSpace(text[start]) {
				start++
			}
			bodyStart, bodyEnd = start, start
			pos = start
			if e := strings.IndexByte(text[start:], '\n'); e >= 0 {
				bodyEnd = start + e
				pos = start + e + 1
			} else {
				bodyEnd, pos = len(text), len(text)
			}
			continue
		}
		if !have {
			if strings.TrimSpace(l) != "" {
				return out, fmt.Errorf("%%changelog entries must start with *: %q", clip(l))
			}
		} else {
			bodyEnd = end
		}
		pos = next
	}
	flush()
	return out, nil
}

// headerFields splits a changelog header as strings.Fields would: the
// first six fields, and the fields from the fifth and from the seventh on
// joined by single blanks. ASCII headers (nearly all) need no allocation.
func headerFields(h string) (f [6]string, n int, from4, from6 string) {
	if !isASCII(h) {
		fs := strings.Fields(h)
		n = copy(f[:], fs)
		if len(fs) > 4 {
			from4 = strings.Join(fs[4:], " ")
		}
		if len(fs) > 6 {
			from6 = strings.Join(fs[6:], " ")
		}
		return
	}
	rest := h
	for n < len(f) {
		i := 0
		for i < len(rest) && asciiSpace(rest[i]) {
			i++
		}
		if i == len(rest) {
			break
		}
		if n == 4 {
			from4 = joinSpaced(rest[i:])
		}
		j := i
		for j < len(rest) && !asciiSpace(rest[j]) {
			j++
		}
		f[n], rest = rest[i:j], rest[j:]
		n++
	}
	if n == 6 {
		from6 = joinSpaced(rest)
	}
	return
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// joinSpaced is strings.Join(strings.Fields(s), " ") for ASCII s, without
// allocating when s is already single-spaced.
func joinSpaced(s string) string {
	i, j := 0, len(s)
	for i < j && asciiSpace(s[i]) {
		i++
	}
	for j > i && asciiSpace(s[j-1]) {
		j--
	}
	t := s[i:j]
	for k := 0; k < len(t); k++ {
		if asciiSpace(t[k]) && (t[k] != ' ' || asciiSpace(t[k+1])) {
			return strings.Join(strings.Fields(t), " ")
		}
	}
	return t
}
