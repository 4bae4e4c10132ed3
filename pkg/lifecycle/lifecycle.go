// Package lifecycle reads a distribution's support lifecycle
// (distro/lifecycle.yaml): per release line, when it was released, when
// security support ends and when it reaches end of life — the dates that
// drive an upgrade, as Azure Linux 2.0's retirement on 31 July 2025 drove
// its users to 3.0. Decoded strictly (pkg/strictyaml); the JSON Schema is
// docs/schema/lifecycle.schema.json.
package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/pkg/strictyaml"
)

// FileName is the lifecycle file at the top of a distribution tree.
const FileName = "lifecycle.yaml"

// File is lifecycle.yaml.
type File struct {
	Lines []Line `yaml:"lines" json:"lines"`
	path  string
}

// Line is one release line: releases <line>.YYYYMMDD (keel.yaml's version).
type Line struct {
	Line string `yaml:"line" json:"line"`
	// Name is the human name of the line ("Keel Linux 1.0").
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Released is the first release of the line, YYYY-MM-DD.
	Released string `yaml:"released" json:"released"`
	// SecurityEnd is the last day security fixes ship (YYYY-MM-DD).
	SecurityEnd string `yaml:"end_of_security_support" json:"end_of_security_support"`
	// EndOfLife is the last day of the line: no fixes, no repositories
	// promised after it (YYYY-MM-DD).
	EndOfLife string `yaml:"end_of_life" json:"end_of_life"`
	// Successor is the line to move to.
	Successor string `yaml:"successor,omitempty" json:"successor,omitempty"`
	Note      string `yaml:"note,omitempty" json:"note,omitempty"`
}

var lineRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`) })

// Load reads dir/lifecycle.yaml; a tree without one gives (nil, nil).
func Load(dir string) (*File, error) {
	p := filepath.Join(dir, FileName)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(p, data)
}

// Parse reads a lifecycle file strictly; every error names the file, the
// line and the field.
func Parse(path string, data []byte) (*File, error) {
	var f File
	if err := strictyaml.Decode(path, data, &f); err != nil {
		return nil, err
	}
	f.path = path
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	var errs strictyaml.Errors
	fail := func(i int, field, format string, a ...any) {
		errs = append(errs, &strictyaml.Error{File: path, Line: lineOf(&doc, i, field),
			Msg: fmt.Sprintf("lines[%d].%s: ", i, field) + fmt.Sprintf(format, a...)})
	}
	if len(f.Lines) == 0 {
		return nil, &strictyaml.Error{File: path, Line: 1, Msg: "`lines` is required: one entry per release line (line, released, end_of_security_support, end_of_life)"}
	}
	seen := map[string]int{}
	for i, l := range f.Lines {
		if !lineRe().MatchString(l.Line) {
			fail(i, "line", "%q: want a version such as 1.0 (keel.yaml's version, which releases are cut from)", l.Line)
		} else if j, dup := seen[l.Line]; dup {
			fail(i, "line", "%s is also lines[%d]", l.Line, j)
		}
		seen[l.Line] = i
		var days [3]time.Time
		for k, fd := range []struct{ name, v string }{{"released", l.Released}, {"end_of_security_support", l.SecurityEnd}, {"end_of_life", l.EndOfLife}} {
			t, err := time.Parse(time.DateOnly, fd.v)
			if err != nil {
				fail(i, fd.name, "%q: want a date YYYY-MM-DD", fd.v)
				continue
			}
			days[k] = t
		}
		if !days[0].IsZero() && !days[1].IsZero() && days[1].Before(days[0]) {
			fail(i, "end_of_security_support", "%s is before the line was released (%s)", l.SecurityEnd, l.Released)
		}
		if !days[1].IsZero() && !days[2].IsZero() && days[2].Before(days[1]) {
			fail(i, "end_of_life", "%s is before the end of security support (%s)", l.EndOfLife, l.SecurityEnd)
		}
		if l.Successor != "" && !lineRe().MatchString(l.Successor) {
			fail(i, "successor", "%q: want a release line such as 2.0", l.Successor)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &f, nil
}

// lineOf is the line of lines[i].field (or of lines[i]) in doc.
func lineOf(doc *yaml.Node, i int, field string) int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0
	}
	top := doc.Content[0]
	for k := 0; k+1 < len(top.Content); k += 2 {
		if top.Content[k].Value != "lines" || top.Content[k+1].Kind != yaml.SequenceNode || i >= len(top.Content[k+1].Content) {
			continue
		}
		item := top.Content[k+1].Content[i]
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == field {
				return item.Content[j].Line
			}
		}
		return item.Line
	}
	return 0
}

// Find is the entry of a release line, or nil.
func (f *File) Find(line string) *Line {
	if f == nil {
		return nil
	}
	for i := range f.Lines {
		if f.Lines[i].Line == line {
			return &f.Lines[i]
		}
	}
	return nil
}

// LineOf is the release line of a release version: 1.0.20261201 → 1.0
// (a version without a date suffix is its own line).
func LineOf(version string) string {
	if i := strings.LastIndexByte(version, '.'); i > 0 && len(version)-i-1 == 8 {
		if _, err := time.Parse("20060102", version[i+1:]); err == nil {
			return version[:i]
		}
	}
	return version
}

// Support is where a line stands on a day.
type Support struct {
	Line        string `json:"line"`
	Name        string `json:"name,omitempty"`
	State       string `json:"state"` // supported | security-ended | end-of-life | unknown
	Released    string `json:"released,omitempty"`
	SecurityEnd string `json:"end_of_security_support,omitempty"`
	EndOfLife   string `json:"end_of_life,omitempty"`
	// DaysToSecurityEnd and DaysToEOL count from the day asked about;
	// negative once passed.
	DaysToSecurityEnd int    `json:"days_to_security_end"`
	DaysToEOL         int    `json:"days_to_end_of_life"`
	Successor         string `json:"successor,omitempty"`
	Note              string `json:"note,omitempty"`
}

// Status says where line stands on day; a line the file does not list is
// "unknown".
func (f *File) Status(line string, day time.Time) Support {
	s := Support{Line: line, State: "unknown"}
	l := f.Find(line)
	if l == nil {
		return s
	}
	s.Name, s.Released, s.SecurityEnd, s.EndOfLife, s.Successor, s.Note = l.Name, l.Released, l.SecurityEnd, l.EndOfLife, l.Successor, l.Note
	day = day.UTC().Truncate(24 * time.Hour)
	sec, _ := time.Parse(time.DateOnly, l.SecurityEnd)
	eol, _ := time.Parse(time.DateOnly, l.EndOfLife)
	s.DaysToSecurityEnd = int(sec.Sub(day).Hours() / 24)
	s.DaysToEOL = int(eol.Sub(day).Hours() / 24)
	switch {
	case s.DaysToEOL < 0:
		s.State = "end-of-life"
	case s.DaysToSecurityEnd < 0:
		s.State = "security-ended"
	default:
		s.State = "supported"
	}
	return s
}
