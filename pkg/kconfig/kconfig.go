// Package kconfig reads Linux kernel configuration files (.config) and
// required-options policies — Keel's own YAML list and Azure Linux's
// required-kernel-configs JSON — and checks one against the other.
package kconfig

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Config maps CONFIG_* names to values: "y", "m", a number or string
// (quotes kept as in the file), or "n" for "# CONFIG_X is not set".
// Options absent from the file are absent from the map.
type Config map[string]string

// Parse reads a kernel .config. Comments other than "is not set" lines
// are ignored; anything else that is not NAME=VALUE is an error naming the line.
func Parse(r io.Reader, name string) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "":
		case strings.HasPrefix(s, "# CONFIG_") && strings.HasSuffix(s, " is not set"):
			opt := strings.TrimSuffix(strings.TrimPrefix(s, "# "), " is not set")
			if strings.ContainsAny(opt, " \t=") {
				return nil, fmt.Errorf("%s:%d: malformed 'is not set' line %q", name, line, s)
			}
			c[opt] = "n"
		case strings.HasPrefix(s, "#"):
		default:
			k, v, ok := strings.Cut(s, "=")
			if !ok || !strings.HasPrefix(k, "CONFIG_") || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("%s:%d: want CONFIG_NAME=value or '# CONFIG_NAME is not set', got %q", name, line, s)
			}
			c[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Get returns an option's value, "n" when it is absent (as Kconfig treats it).
func (c Config) Get(opt string) string {
	if v, ok := c[opt]; ok {
		return v
	}
	return "n"
}

// Change is one option whose value differs between two configs; "" means
// the option is absent on that side.
type Change struct {
	Option string `json:"option"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// Diff lists options whose values differ, sorted by name.
func Diff(old, new Config) []Change {
	var out []Change
	seen := map[string]bool{}
	for k, v := range old {
		seen[k] = true
		if nv, ok := new[k]; !ok || nv != v {
			out = append(out, Change{k, v, new[k]})
		}
	}
	for k, v := range new {
		if !seen[k] {
			out = append(out, Change{k, "", v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Option < out[j].Option })
	return out
}
