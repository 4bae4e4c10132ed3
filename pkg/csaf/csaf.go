// Package csaf reads and writes CSAF 2.0 documents (OASIS Common Security
// Advisory Framework), the parts the csaf_vex profile uses.
package csaf

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Document is a CSAF 2.0 document.
type Document struct {
	Document        Meta            `json:"document"`
	ProductTree     *ProductTree    `json:"product_tree,omitempty"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities,omitempty"`
}

// Meta is the document property.
type Meta struct {
	Category    string    `json:"category"` // csaf_vex
	CSAFVersion string    `json:"csaf_version"`
	Title       string    `json:"title"`
	Lang        string    `json:"lang,omitempty"`
	Publisher   Publisher `json:"publisher"`
	Tracking    Tracking  `json:"tracking"`
	Notes       []Note    `json:"notes,omitempty"`
}

// Publisher says who published.
type Publisher struct {
	Category  string `json:"category"` // vendor
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// Tracking holds identity and history.
type Tracking struct {
	ID                 string     `json:"id"`
	Status             string     `json:"status"` // final
	Version            string     `json:"version"`
	InitialReleaseDate string     `json:"initial_release_date"`
	CurrentReleaseDate string     `json:"current_release_date"`
	RevisionHistory    []Revision `json:"revision_history"`
	Generator          *Generator `json:"generator,omitempty"`
}

// Revision is one history entry.
type Revision struct {
	Date    string `json:"date"`
	Number  string `json:"number"`
	Summary string `json:"summary"`
}

// Generator names the tool.
type Generator struct {
	Engine struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	} `json:"engine"`
}

// Note is a typed text.
type Note struct {
	Category string `json:"category"`
	Text     string `json:"text"`
	Title    string `json:"title,omitempty"`
}

// ProductTree holds branches of vendor / product name / version.
type ProductTree struct {
	Branches []Branch `json:"branches,omitempty"`
}

// Branch is a node of the product tree; leaves carry a Product.
type Branch struct {
	Category string   `json:"category"` // vendor, product_name, product_version, product_version_range
	Name     string   `json:"name"`
	Branches []Branch `json:"branches,omitempty"`
	Product  *Product `json:"product,omitempty"`
}

// Product is a full product name.
type Product struct {
	Name      string          `json:"name"`
	ProductID string          `json:"product_id"`
	Helper    *IdentifyHelper `json:"product_identification_helper,omitempty"`
}

// IdentifyHelper carries a purl.
type IdentifyHelper struct {
	PURL string `json:"purl,omitempty"`
}

// Vulnerability is one CVE's status across products.
type Vulnerability struct {
	CVE           string         `json:"cve,omitempty"`
	CWE           *CWE           `json:"cwe,omitempty"`
	Notes         []Note         `json:"notes,omitempty"`
	ProductStatus *ProductStatus `json:"product_status,omitempty"`
	Flags         []Flag         `json:"flags,omitempty"`
	Threats       []Threat       `json:"threats,omitempty"`
	Remediations  []Remediation  `json:"remediations,omitempty"`
	Scores        []Score        `json:"scores,omitempty"`
	References    []Reference    `json:"references,omitempty"`
}

// CWE names a weakness.
type CWE struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ProductStatus groups product ids by VEX status.
type ProductStatus struct {
	Fixed              []string `json:"fixed,omitempty"`
	KnownAffected      []string `json:"known_affected,omitempty"`
	KnownNotAffected   []string `json:"known_not_affected,omitempty"`
	UnderInvestigation []string `json:"under_investigation,omitempty"`
}

// Flag carries a not-affected justification label.
type Flag struct {
	Label      string   `json:"label"`
	ProductIDs []string `json:"product_ids"`
}

// Threat is an impact statement (category impact) etc.
type Threat struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	ProductIDs []string `json:"product_ids,omitempty"`
}

// Remediation is vendor_fix, none_available, no_fix_planned ...
type Remediation struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	ProductIDs []string `json:"product_ids,omitempty"`
}

// Score is a CVSS v3 score for products.
type Score struct {
	Products []string `json:"products"`
	CVSSV3   *CVSSV3  `json:"cvss_v3,omitempty"`
}

// CVSSV3 is the CVSS 3.x JSON the schema references.
type CVSSV3 struct {
	Version      string  `json:"version"`
	VectorString string  `json:"vectorString"`
	BaseScore    float64 `json:"baseScore"`
	BaseSeverity string  `json:"baseSeverity"`
}

// Reference is a link.
type Reference struct {
	Category string `json:"category,omitempty"`
	Summary  string `json:"summary"`
	URL      string `json:"url"`
}

// Products maps product ids to their full product names across the tree.
func (d *Document) Products() map[string]Product {
	out := map[string]Product{}
	var walk func([]Branch)
	walk = func(bs []Branch) {
		for _, b := range bs {
			if b.Product != nil {
				out[b.Product.ProductID] = *b.Product
			}
			walk(b.Branches)
		}
	}
	if d.ProductTree != nil {
		walk(d.ProductTree.Branches)
	}
	return out
}

// Parse reads a CSAF 2.0 document and checks every product id used by a
// vulnerability is defined in the tree.
func Parse(name string, data []byte) (*Document, error) {
	var d Document
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: not a CSAF document: %w", name, err)
	}
	if d.Document.CSAFVersion != "2.0" {
		return nil, fmt.Errorf("%s: document.csaf_version %q, expected 2.0", name, d.Document.CSAFVersion)
	}
	prods := d.Products()
	for i, v := range d.Vulnerabilities {
		if v.ProductStatus == nil {
			continue
		}
		ps := v.ProductStatus
		for _, l := range [][]string{ps.Fixed, ps.KnownAffected, ps.KnownNotAffected, ps.UnderInvestigation} {
			for _, id := range l {
				if _, ok := prods[id]; !ok {
					return nil, fmt.Errorf("%s: vulnerabilities[%d] (%s): product id %q is not in the product tree", name, i, v.CVE, id)
				}
			}
		}
	}
	return &d, nil
}

// Marshal writes the document as indented JSON.
func Marshal(d *Document) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	return append(b, '\n'), err
}
