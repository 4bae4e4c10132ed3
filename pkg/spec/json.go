package spec

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends s as encoding/json marshals it, byte for byte (field
// order and omitempty from the struct tags, HTML-safe string escaping):
// json.Marshal's reflection was an eighth of `keel specs --json` over a
// distribution. TestAppendJSONMatchesEncodingJSON and FuzzAppendJSONString
// hold it to encoding/json's output.
func (s *Spec) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"path":`...)
	b = appendJSONString(b, s.Path)
	b = appendStringField(b, "name", s.Name)
	b = appendOptField(b, "epoch", s.Epoch)
	b = appendStringField(b, "version", s.Version)
	b = appendStringField(b, "release", s.Release)
	b = appendStringField(b, "summary", s.Summary)
	b = appendStringField(b, "license", s.License)
	b = appendOptField(b, "url", s.URL)
	b = appendOptField(b, "buildArch", s.BuildArch)
	b = appendDeps(b, "buildRequires", s.BuildRequires)
	b = appendDeps(b, "buildConflicts", s.BuildConflicts)
	b = appendSources(b, "sources", s.Sources)
	b = appendSources(b, "patches", s.Patches)
	b = appendStrings(b, "exclusiveArch", s.ExclusiveArch)
	b = appendStrings(b, "excludeArch", s.ExcludeArch)
	b = append(b, `,"hasCheck":`...)
	b = strconv.AppendBool(b, s.HasCheck)
	b = append(b, `,"packages":`...)
	if s.Packages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range s.Packages {
			if i > 0 {
				b = append(b, ',')
			}
			b = p.appendJSON(b)
		}
		b = append(b, ']')
	}
	for _, c := range s.Changelog {
		if y := c.Time.Year(); y < 0 || y >= 10000 {
			// What json.Marshal refuses too (time.Time.MarshalJSON).
			return nil, &time.ParseError{Layout: time.RFC3339Nano, Message: ": year outside of range [0,9999]"}
		}
	}
	b = appendArray(b, "changelog", s.Changelog, func(b []byte, c Changelog) []byte {
		b = append(b, `{"time":"`...)
		b = c.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		b = appendStringField(b, "author", c.Author)
		b = appendStringField(b, "text", c.Text)
		return append(b, '}')
	})
	b = appendStrings(b, "warnings", s.Warnings)
	return append(b, '}'), nil
}

func (p *Package) appendJSON(b []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"name":`...)
	b = appendJSONString(b, p.Name)
	b = appendOptField(b, "epoch", p.Epoch)
	b = appendStringField(b, "version", p.Version)
	b = appendStringField(b, "release", p.Release)
	b = appendStringField(b, "summary", p.Summary)
	b = appendStringField(b, "arch", p.Arch)
	b = appendDeps(b, "requires", p.Requires)
	b = appendDeps(b, "provides", p.Provides)
	b = appendDeps(b, "conflicts", p.Conflicts)
	b = appendDeps(b, "obsoletes", p.Obsoletes)
	b = appendDeps(b, "recommends", p.Recommends)
	b = appendDeps(b, "suggests", p.Suggests)
	b = appendDeps(b, "supplements", p.Supplements)
	b = appendDeps(b, "enhances", p.Enhances)
	b = append(b, `,"hasFiles":`...)
	b = strconv.AppendBool(b, p.HasFiles)
	return append(b, '}')
}

// appendArray appends ,"key":[...] with each item, unless items is empty
// (omitempty).
func appendArray[T any](b []byte, key string, items []T, each func([]byte, T) []byte) []byte {
	if len(items) == 0 {
		return b
	}
	b = appendKey(b, key)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(b, it)
	}
	return append(b, ']')
}

func appendDeps(b []byte, key string, deps []Dep) []byte { return appendArray(b, key, deps, appendDep) }

func appendDep(b []byte, d Dep) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, d.Name)
	b = appendOptField(b, "op", d.Op)
	b = appendOptField(b, "evr", d.EVR)
	b = appendStrings(b, "qualifier", d.Qualifier)
	if d.Rich {
		b = append(b, `,"rich":true`...)
	}
	return append(b, '}')
}

func appendSources(b []byte, key string, srcs []Source) []byte {
	return appendArray(b, key, srcs, func(b []byte, s Source) []byte {
		b = append(b, `{"num":`...)
		b = strconv.AppendInt(b, int64(s.Num), 10)
		b = appendStringField(b, "url", s.URL)
		b = appendStringField(b, "file", s.File)
		return append(b, '}')
	})
}

func appendStrings(b []byte, key string, ss []string) []byte {
	return appendArray(b, key, ss, appendJSONString)
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStringField(b []byte, key, v string) []byte {
	return appendJSONString(appendKey(b, key), v)
}

// appendOptField is appendStringField for an omitempty field.
func appendOptField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStringField(b, key, v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping on:
// <, > and & as \u003c.., control bytes as \n \t \r \b \f or \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
