package selinux

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// FileContexts is a parsed file_contexts file: lines of
//
//	REGEX [-TYPE] CONTEXT
//
// where REGEX is anchored at both ends, TYPE one of -- -d -l -c -b -s -p
// (regular file, directory, symlink, character and block device, socket,
// pipe; absent: any) and CONTEXT user:role:type[:level] or <<none>> (leave
// unlabelled). As in libselinux, the last matching line wins, after lines
// without regular expression characters are moved to the end.
type FileContexts struct {
	Specs []Spec
}

// Spec is one line.
type Spec struct {
	Line    int
	Regex   string
	Kind    string // "", --, -d, -l, -c, -b, -s, -p
	Context string // "<<none>>" or user:role:type[:level]
	re      *regexp.Regexp
}

// Type is the context's type field ("" for <<none>>).
func (s Spec) Type() string {
	f := strings.Split(s.Context, ":")
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

var kinds = map[string]fs.FileMode{"--": 0, "-d": fs.ModeDir, "-l": fs.ModeSymlink, "-c": fs.ModeCharDevice | fs.ModeDevice,
	"-b": fs.ModeDevice, "-s": fs.ModeSocket, "-p": fs.ModeNamedPipe}

// contextRe is SELinux's user:role:type with an optional MLS level.
var contextRe = regexp.MustCompile(`^[A-Za-z0-9_.]+:[A-Za-z0-9_.]+:[A-Za-z0-9_.]+(:[A-Za-z0-9_.,:-]+)?$`)

// ParseFileContexts reads file_contexts; an error names the file and line.
func ParseFileContexts(name string, data []byte) (*FileContexts, error) {
	fc := &FileContexts{}
	var plain []Spec
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		s := Spec{Line: i + 1}
		switch len(f) {
		case 2:
			s.Regex, s.Context = f[0], f[1]
		case 3:
			s.Regex, s.Kind, s.Context = f[0], f[1], f[2]
			if _, ok := kinds[s.Kind]; !ok {
				return nil, fmt.Errorf("%s:%d: file type %q: want --, -d, -l, -c, -b, -s or -p", name, s.Line, s.Kind)
			}
		default:
			return nil, fmt.Errorf("%s:%d: want REGEX [-TYPE] CONTEXT, got %d fields", name, s.Line, len(f))
		}
		if s.Context != "<<none>>" && !contextRe.MatchString(s.Context) {
			return nil, fmt.Errorf("%s:%d: context %q: want user:role:type[:level] or <<none>>", name, s.Line, s.Context)
		}
		if !strings.HasPrefix(s.Regex, "/") {
			return nil, fmt.Errorf("%s:%d: %q: a path expression starts with /", name, s.Line, s.Regex)
		}
		re, err := regexp.Compile("^(?:" + s.Regex + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s:%d: path expression %q: %v", name, s.Line, s.Regex, err)
		}
		s.re = re
		if regexp.QuoteMeta(s.Regex) == s.Regex {
			plain = append(plain, s)
		} else {
			fc.Specs = append(fc.Specs, s)
		}
	}
	fc.Specs = append(fc.Specs, plain...)
	return fc, nil
}

// Lookup is the context for path (absolute, clean) of the given type, and
// whether any line matched (a <<none>> match returns "", true).
func (fc *FileContexts) Lookup(path string, mode fs.FileMode) (string, bool) {
	t := mode.Type()
	for i := len(fc.Specs) - 1; i >= 0; i-- {
		s := fc.Specs[i]
		if s.Kind != "" && kinds[s.Kind] != t {
			continue
		}
		if s.re.MatchString(path) {
			if s.Context == "<<none>>" {
				return "", true
			}
			return s.Context, true
		}
	}
	return "", false
}
