// Package source fetches the pinned inputs of a package build: from lookaside
// directories first, then from mirrors (Debian's archive), into a
// content-addressed store, verifying every byte against its sha256 pin.
//
// A package's pins live beside its spec in <name>.signatures.json, a superset
// of Azure Linux's format:
//
//	{
//	  "Type": "imported",                       // optional: "source" (default) or "imported"
//	  "Signatures": {"file": "sha256", ...},    // pins, as in Azure Linux
//	  "Origins": {"file": "origin", ...}        // where a file comes from
//	}
//
// Origins: "debian:pool/main/b/busybox/FILE" (a path under each mirror),
// "https://..." (a URL), "member:ARCHIVE#PATH" (a member of another pinned
// source, e.g. a patch inside a Debian .debian.tar.xz) and "local:DIR" (a
// directory beside the spec, packed into a reproducible tarball; not pinned,
// since git already tracks it). Go programs add "gomod:MODULE@VERSION" (a
// module zip from the Go module proxy) and "govendor:ZIP" (its dependencies,
// vendored reproducibly), with go.sum lines pinned in "GoSums" (gomod.go).
package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Component types.
const (
	TypeSource   = "source"   // built from source; its ELFs must pass hardening
	TypeImported = "imported" // foreign binaries repackaged; reported, never failed
)

// Manifest is <name>.signatures.json.
type Manifest struct {
	Type       string            `json:"Type,omitempty"`
	Signatures map[string]string `json:"Signatures"`
	Origins    map[string]string `json:"Origins,omitempty"`
	// GoSums pins the go.sum lines of Go module sources: the module's own for
	// a gomod: zip, every vendored module for a govendor: tarball.
	GoSums map[string][]string `json:"GoSums,omitempty"`

	path string
}

// ManifestPath is where a package's pins live.
func ManifestPath(specDir, name string) string {
	return filepath.Join(specDir, name+".signatures.json")
}

// LoadManifest reads a package's pins; a package without the file has none
// (every source is then a local file beside the spec).
func LoadManifest(specDir, name string) (*Manifest, error) {
	p := ManifestPath(specDir, name)
	m := &Manifest{Signatures: map[string]string{}, Origins: map[string]string{}, path: p}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		m.Type = TypeSource
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: %w (want {\"Type\", \"Signatures\", \"Origins\", \"GoSums\"})", p, jsonErr(data, err))
	}
	if m.Signatures == nil {
		m.Signatures = map[string]string{}
	}
	if m.Origins == nil {
		m.Origins = map[string]string{}
	}
	switch m.Type {
	case "":
		m.Type = TypeSource
	case TypeSource, TypeImported:
	default:
		return nil, fmt.Errorf("%s: Type %q: want %q or %q", p, m.Type, TypeSource, TypeImported)
	}
	for f, sum := range m.Signatures {
		if !isHexSHA256(sum) {
			return nil, fmt.Errorf("%s: Signatures[%q] = %q: want 64 lowercase hex digits (sha256)", p, f, sum)
		}
	}
	for f, o := range m.Origins {
		if _, _, err := parseOrigin(o); err != nil {
			return nil, fmt.Errorf("%s: Origins[%q]: %w", p, f, err)
		}
		if _, pinned := m.Signatures[f]; !pinned && !strings.HasPrefix(o, "local:") {
			return nil, fmt.Errorf("%s: Origins[%q] has no pin in Signatures; run `keel sources pin`", p, f)
		}
	}
	if err := m.checkGoPins(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	m.path = p
	return m, nil
}

// Path is the file the manifest was read from.
func (m *Manifest) Path() string { return m.path }

// Save writes the manifest back atomically, keys sorted (json.Marshal sorts maps).
func (m *Manifest) Save() error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.path, append(data, '\n'), 0o644)
}

// Files lists the pinned and local-origin files, sorted.
func (m *Manifest) Files() []string {
	set := map[string]bool{}
	for f := range m.Signatures {
		set[f] = true
	}
	for f := range m.Origins {
		set[f] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// jsonErr turns a json offset error into a line number.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	if errors.As(err, &se) {
		off = se.Offset
	} else if errors.As(err, &te) {
		off = te.Offset
	}
	if off < 0 {
		return err
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	return fmt.Errorf("line %d: %v", line, err)
}

// parseOrigin splits "kind:rest".
func parseOrigin(o string) (kind, rest string, err error) {
	switch {
	case strings.HasPrefix(o, "https://"), strings.HasPrefix(o, "http://"):
		return "url", o, nil
	case strings.HasPrefix(o, "debian:"):
		rest = strings.TrimPrefix(o, "debian:")
		if rest == "" || strings.Contains(rest, "..") {
			return "", "", fmt.Errorf("%q: want debian:pool/<component>/<x>/<source>/<file>", o)
		}
		return "debian", rest, nil
	case strings.HasPrefix(o, "member:"):
		rest = strings.TrimPrefix(o, "member:")
		a, p, ok := strings.Cut(rest, "#")
		if !ok || a == "" || p == "" {
			return "", "", fmt.Errorf("%q: want member:ARCHIVE#PATH", o)
		}
		return "member", rest, nil
	case strings.HasPrefix(o, "gomod:"):
		rest = strings.TrimPrefix(o, "gomod:")
		if _, err := parseGoModOrigin(rest); err != nil {
			return "", "", err
		}
		return "gomod", rest, nil
	case strings.HasPrefix(o, "govendor:"):
		rest = strings.TrimPrefix(o, "govendor:")
		if rest == "" || strings.ContainsAny(rest, "/#") {
			return "", "", fmt.Errorf("%q: want govendor:ZIP, the pinned module zip (a gomod: origin) it vendors", o)
		}
		return "govendor", rest, nil
	case strings.HasPrefix(o, "local:"):
		rest = strings.TrimPrefix(o, "local:")
		if rest == "" || filepath.IsAbs(rest) || strings.Contains(rest, "..") {
			return "", "", fmt.Errorf("%q: want local:DIR, a directory beside the spec", o)
		}
		return "local", rest, nil
	}
	return "", "", fmt.Errorf("%q: unknown origin; want debian:, member:, local:, gomod:, govendor: or an https:// URL", o)
}
