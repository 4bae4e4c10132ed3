// Package osv reads and writes Open Source Vulnerability (OSV) records,
// schema 1.6 (https://ossf.github.io/osv-schema/).
package osv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// SchemaVersion is the OSV schema version this package writes.
const SchemaVersion = "1.6.0"

// Vulnerability is one OSV record.
type Vulnerability struct {
	SchemaVersion    string          `json:"schema_version,omitempty"`
	ID               string          `json:"id"`
	Modified         time.Time       `json:"modified"`
	Published        *time.Time      `json:"published,omitempty"`
	Withdrawn        *time.Time      `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	Credits          []Credit        `json:"credits,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is a scored severity (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Package identifies an affected package in an ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Purl      string `json:"purl,omitempty"`
}

// Affected lists the versions of one package a vulnerability affects.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Range types.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Range is a list of version events, ordered in the ecosystem's order.
type Range struct {
	Type             string          `json:"type"`
	Repo             string          `json:"repo,omitempty"`
	Events           []Event         `json:"events"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Event is exactly one of introduced, fixed, last_affected or limit.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a typed link.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Credit names someone credited for the finding or fix.
type Credit struct {
	Name    string   `json:"name"`
	Contact []string `json:"contact,omitempty"`
	Type    string   `json:"type,omitempty"`
}

var refTypes = map[string]bool{"ADVISORY": true, "ARTICLE": true, "DETECTION": true, "DISCUSSION": true,
	"REPORT": true, "FIX": true, "INTRODUCED": true, "GIT": true, "PACKAGE": true, "EVIDENCE": true, "WEB": true}

// Parse decodes one OSV record and checks the fields the schema requires.
// name labels errors (usually the file path).
func Parse(name string, data []byte) (*Vulnerability, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v Vulnerability
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", name, describeJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the OSV record", name)
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &v, nil
}

// Validate checks what the OSV schema requires and the events invariants.
func (v *Vulnerability) Validate() error {
	if v.ID == "" {
		return fmt.Errorf("id: required")
	}
	if v.Modified.IsZero() {
		return fmt.Errorf("%s: modified: required", v.ID)
	}
	for i, a := range v.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			return fmt.Errorf("%s: affected[%d].package: ecosystem and name are required", v.ID, i)
		}
		for j, r := range a.Ranges {
			if err := r.validate(); err != nil {
				return fmt.Errorf("%s: affected[%d].ranges[%d]: %w", v.ID, i, j, err)
			}
		}
	}
	for i, r := range v.References {
		if !refTypes[r.Type] {
			return fmt.Errorf("%s: references[%d].type: unknown %q", v.ID, i, r.Type)
		}
	}
	return nil
}

func (r Range) validate() error {
	switch r.Type {
	case RangeEcosystem, RangeSemver:
	case RangeGit:
		if r.Repo == "" {
			return fmt.Errorf("GIT range needs repo")
		}
	default:
		return fmt.Errorf("type: unknown %q (want ECOSYSTEM, SEMVER or GIT)", r.Type)
	}
	if len(r.Events) == 0 {
		return fmt.Errorf("events: at least one required")
	}
	intro, fixed, last := false, false, false
	for k, e := range r.Events {
		n := 0
		for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("events[%d]: exactly one of introduced, fixed, last_affected, limit", k)
		}
		intro = intro || e.Introduced != ""
		fixed = fixed || e.Fixed != ""
		last = last || e.LastAffected != ""
	}
	if !intro {
		return fmt.Errorf("events: an introduced event is required")
	}
	if fixed && last {
		return fmt.Errorf("events: fixed and last_affected are mutually exclusive")
	}
	return nil
}

// Marshal renders a record as indented JSON with a trailing newline; the
// output is stable for a given record.
func Marshal(v *Vulnerability) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReadAll decodes a stream holding either one record, a JSON array of
// records, or an OSV "vulns" list (as the osv.dev API answers).
func ReadAll(name string, r io.Reader) ([]*Vulnerability, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 {
		return nil, fmt.Errorf("%s: empty input", name)
	}
	var raws []json.RawMessage
	switch t[0] {
	case '[':
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, fmt.Errorf("%s: %w", name, describeJSONError(t, err))
		}
	case '{':
		var probe struct {
			Vulns []json.RawMessage `json:"vulns"`
		}
		if err := json.Unmarshal(t, &probe); err != nil {
			return nil, fmt.Errorf("%s: %w", name, describeJSONError(t, err))
		}
		if probe.Vulns != nil {
			raws = probe.Vulns
		} else {
			raws = []json.RawMessage{t}
		}
	default:
		return nil, fmt.Errorf("%s: expected a JSON object or array", name)
	}
	out := make([]*Vulnerability, 0, len(raws))
	for i, raw := range raws {
		v, err := Parse(fmt.Sprintf("%s[%d]", name, i), raw)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// describeJSONError adds a line:column to encoding/json's offsets.
func describeJSONError(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
		if e.Field != "" {
			return fmt.Errorf("field %s: expected %s, got JSON %s (line %d)", e.Field, e.Type, e.Value, lineOf(data, off))
		}
	}
	if off >= 0 {
		return fmt.Errorf("line %d: %w", lineOf(data, off), err)
	}
	return err
}

func lineOf(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return 1 + strings.Count(string(data[:off]), "\n")
}
