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
	if s.Epoch != "" {
		b = appendStringField(b, "epoch", s.Epoch)
	}
	b = appendStringField(b, "version", s.Version)
	b = appendStringField(b, "release", s.Release)
	b = appendStringField(b, "summary", s.Summary)
	b = appendStringField(b, "license", s.License)
	if s.URL != "" {
		b = appendStringField(b, "url", s.URL)
	}
	if s.BuildArch != "" {
		b = appendStringField(b, "buildArch", s.BuildArch)
	}
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
	if len(s.Changelog) > 0 {
		b = append(b, `,"changelog":[`...)
		for i, c := range s.Changelog {
			if i > 0 {
				b = append(b, ',')
			}
			if y := c.Time.Year(); y < 0 || y >= 10000 {
				// What json.Marshal refuses too (time.Time.MarshalJSON).
				return nil, &time.ParseError{Layout: time.RFC3339Nano, Message: ": year outside of range [0,9999]"}
			}
			b = append(b, `{"time":"`...)
			b = c.Time.AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
			b = appendStringField(b, "author", c.Author)
			b = appendStringField(b, "text", c.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendStrings(b, "warnings", s.Warnings)
	return append(b, '}'), nil
}

func (p *Package) appendJSON(b []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"name":`...)
	b = appendJSONString(b, p.Name)
	if p.Epoch != "" {
		b = appendStringField(b, "epoch", p.Epoch)
	}
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

// appendDeps appends ,"key":[...] unless deps is empty (omitempty).
func appendDeps(b []byte, key string, deps []Dep) []byte {
	if len(deps) == 0 {
		return b
	}
	b = appendKey(b, key)
	b = append(b, '[')
	for i, d := range deps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, d.Name)
		if d.Op != "" {
			b = appendStringField(b, "op", d.Op)
		}
		if d.EVR != "" {
			b = appendStringField(b, "evr", d.EVR)
		}
		b = appendStrings(b, "qualifier", d.Qualifier)
		if d.Rich {
			b = append(b, `,"rich":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendSources(b []byte, key string, srcs []Source) []byte {
	if len(srcs) == 0 {
		return b
	}
	b = appendKey(b, key)
	b = append(b, '[')
	for i, s := range srcs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"num":`...)
		b = strconv.AppendInt(b, int64(s.Num), 10)
		b = appendStringField(b, "url", s.URL)
		b = appendStringField(b, "file", s.File)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendStrings appends ,"key":[...] unless ss is empty (omitempty).
func appendStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = appendKey(b, key)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStringField(b []byte, key, v string) []byte {
	return appendJSONString(appendKey(b, key), v)
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
