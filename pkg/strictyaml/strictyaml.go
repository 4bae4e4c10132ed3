// Package strictyaml decodes configuration files (keel.yaml, image
// definitions) strictly: an unknown key, a value of the wrong type or a
// syntax error is one line "file:line: ..." that names the key, the keys
// known at that level and, for a near miss, the one probably meant. No
// decoder-internal text (Go type names, strconv errors) reaches the user.
package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"
)

// Error is one problem at a line of a file.
type Error struct {
	File string
	Line int // 0: unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errors are all the problems found in one file, one per line.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

var syntaxLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`) })

// Decode parses data (the content of file) into v, a pointer to a struct.
// sections are top-level keys accepted by an inline map of v (keel.yaml
// sections other packages decode).
func Decode(file string, data []byte, v any, sections ...string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return syntaxError(file, err)
	}
	if len(doc.Content) == 0 { // empty file: the validation says what is missing
		return nil
	}
	return DecodeNode(file, doc.Content[0], "", v, sections...)
}

// DecodeNode is Decode of one subtree (a keel.yaml section); prefix names
// it in messages ("release").
func DecodeNode(file string, n *yaml.Node, prefix string, v any, sections ...string) error {
	c := checker{file: file, sections: sections}
	c.check(n, reflect.TypeOf(v).Elem(), prefix, true)
	if len(c.errs) > 0 {
		return c.errs
	}
	if err := n.Decode(v); err != nil {
		// The check above covers what the decoder refuses; this is a fallback.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return &Error{File: file, Line: n.Line, Msg: strings.Join(te.Errors, "; ")}
		}
		return syntaxError(file, err)
	}
	return nil
}

func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := syntaxLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: msg}
}

type checker struct {
	file     string
	sections []string
	errs     Errors
}

func (c *checker) fail(n *yaml.Node, format string, a ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: n.Line, Msg: fmt.Sprintf(format, a...)})
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
)

// check walks n against the Go type t; path is the dotted key path.
func (c *checker) check(n *yaml.Node, t reflect.Type, path string, top bool) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent value: the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// The type's own decoder has the last word; its message gets the line.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.fail(n, "%s%s", fieldPrefix(path), strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.fail(n, "%sexpected a mapping, got %s", fieldPrefix(path), describe(n))
			return
		}
		fields, open := structKeys(t)
		var known []string
		for k := range fields {
			known = append(known, k)
		}
		if open && top {
			known = append(known, c.sections...)
		}
		sort.Strings(known)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if open && top && slices.Contains(c.sections, k.Value) {
					continue
				}
				c.fail(k, "%s", unknownKey(k.Value, path, known))
				continue
			}
			c.check(val, ft, join(path, k.Value), false)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, "%sexpected a mapping, got %s", fieldPrefix(path), describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				c.fail(k, "%sexpected a plain key, got %s", fieldPrefix(path), describe(k))
				continue
			}
			c.check(val, t.Elem(), join(path, k.Value), false)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, "%sexpected a list, got %s", fieldPrefix(path), describe(n))
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), false)
		}
	case reflect.Interface:
		return
	default:
		if n.Kind != yaml.ScalarNode {
			c.fail(n, "%sexpected %s, got %s", fieldPrefix(path), kindName(t), describe(n))
			return
		}
		if t.Kind() == reflect.String {
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.fail(n, "%sexpected %s, got %s", fieldPrefix(path), kindName(t), describe(n))
		}
	}
}

// structKeys maps t's YAML keys to their types (inline structs merged);
// open reports an inline map, which takes the keys left over.
func structKeys(t reflect.Type) (map[string]reflect.Type, bool) {
	keys := map[string]reflect.Type{}
	open := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if f.Type.Kind() == reflect.Map {
				open = true
				continue
			}
			sub, o := structKeys(f.Type)
			for k, v := range sub {
				keys[k] = v
			}
			open = open || o
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys, open
}

func unknownKey(key, path string, known []string) string {
	where := "at the top level"
	if path != "" {
		where = "in `" + path + "`"
	}
	msg := fmt.Sprintf("unknown key `%s` %s (known: %s)", key, where, strings.Join(known, ", "))
	if m := nearest(key, known); m != "" {
		msg += fmt.Sprintf("; did you mean `%s`?", m)
	}
	return msg
}

// nearest is the known key within a small edit distance of key, if any;
// on a tie the one of the same length (a transposition: nmae, name).
func nearest(key string, known []string) string {
	best, bestD, bestL := "", 0, 0
	limit := min(max(2, len(key)/3), len(key)-1)
	for _, k := range known {
		d := levenshtein.ComputeDistance(strings.ToLower(key), k)
		l := abs(len(k) - len(key))
		if d <= limit && (best == "" || d < bestD || d == bestD && l < bestL) {
			best, bestD, bestL = k, d, l
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

// describe names what a node holds, quoting scalars (control bytes escaped).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 60 {
		v = v[:60] + "..."
	}
	return strconv.Quote(v)
}

func fieldPrefix(path string) string {
	if path == "" {
		return ""
	}
	return "field `" + path + "`: "
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
