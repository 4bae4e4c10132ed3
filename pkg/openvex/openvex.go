// Package openvex reads and writes OpenVEX 0.2.0 documents
// (https://github.com/openvex/spec).
package openvex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Context is the JSON-LD context of OpenVEX 0.2.0.
const Context = "https://openvex.dev/ns/v0.2.0"

// Document is an OpenVEX document.
type Document struct {
	Context    string      `json:"@context"`
	ID         string      `json:"@id"`
	Author     string      `json:"author"`
	Role       string      `json:"role,omitempty"`
	Timestamp  time.Time   `json:"timestamp"`
	Version    int         `json:"version"`
	Tooling    string      `json:"tooling,omitempty"`
	Statements []Statement `json:"statements"`
}

// Statement says one vulnerability's status in products.
type Statement struct {
	Vulnerability   Vulnerability `json:"vulnerability"`
	Products        []Product     `json:"products"`
	Status          string        `json:"status"`
	Justification   string        `json:"justification,omitempty"`
	ImpactStatement string        `json:"impact_statement,omitempty"`
	ActionStatement string        `json:"action_statement,omitempty"`
	Timestamp       *time.Time    `json:"timestamp,omitempty"`
}

// Vulnerability names the CVE.
type Vulnerability struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
}

// Product is identified by a purl.
type Product struct {
	ID string `json:"@id"`
}

var statuses = map[string]bool{"not_affected": true, "affected": true, "fixed": true, "under_investigation": true}
var justifications = map[string]bool{"component_not_present": true, "vulnerable_code_not_present": true,
	"vulnerable_code_not_in_execute_path": true, "vulnerable_code_cannot_be_controlled_by_adversary": true,
	"inline_mitigations_already_exist": true}

// Validate checks the rules of the spec: status vocabulary, not_affected
// needs a justification or impact statement, affected needs an action.
func (d *Document) Validate() error {
	if d.Context != Context {
		return fmt.Errorf("@context %q, expected %s", d.Context, Context)
	}
	if d.ID == "" || d.Author == "" || d.Timestamp.IsZero() || d.Version < 1 {
		return fmt.Errorf("@id, author, timestamp and version >= 1 are required")
	}
	for i, s := range d.Statements {
		if s.Vulnerability.Name == "" || len(s.Products) == 0 {
			return fmt.Errorf("statements[%d]: vulnerability.name and products are required", i)
		}
		if !statuses[s.Status] {
			return fmt.Errorf("statements[%d]: status %q is not an OpenVEX status", i, s.Status)
		}
		if s.Justification != "" && !justifications[s.Justification] {
			return fmt.Errorf("statements[%d]: justification %q is not an OpenVEX justification", i, s.Justification)
		}
		if s.Status == "not_affected" && !justifications[s.Justification] && s.ImpactStatement == "" {
			return fmt.Errorf("statements[%d]: not_affected needs a justification or impact_statement", i)
		}
		if s.Status == "affected" && s.ActionStatement == "" {
			return fmt.Errorf("statements[%d]: affected needs an action_statement", i)
		}
	}
	return nil
}

// Marshal validates and writes the document.
func Marshal(d *Document) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	return append(b, '\n'), err
}

// Parse reads and validates a document.
func Parse(name string, data []byte) (*Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: not an OpenVEX document: %w", name, err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &d, nil
}
