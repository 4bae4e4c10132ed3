// Package oval reads and writes OVAL 5.11 definitions documents
// (oval-definitions-5 with the linux rpminfo test), the shape Azure Linux
// publishes and grype, trivy and OpenSCAP consume.
package oval

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces of OVAL 5.11.
const (
	NSDefinitions = "http://oval.mitre.org/XMLSchema/oval-definitions-5"
	NSCommon      = "http://oval.mitre.org/XMLSchema/oval-common-5"
	NSLinux       = "http://oval.mitre.org/XMLSchema/oval-definitions-5#linux"
)

// Definitions is an oval_definitions document.
type Definitions struct {
	XMLName     xml.Name        `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5 oval_definitions"`
	Generator   Generator       `xml:"generator"`
	Definitions []Definition    `xml:"definitions>definition"`
	Tests       []RPMInfoTest   `xml:"tests>rpminfo_test"`
	Objects     []RPMInfoObject `xml:"objects>rpminfo_object"`
	States      []RPMInfoState  `xml:"states>rpminfo_state"`
}

// Generator says who produced the document and when.
type Generator struct {
	ProductName    string `xml:"http://oval.mitre.org/XMLSchema/oval-common-5 product_name,omitempty"`
	ProductVersion string `xml:"http://oval.mitre.org/XMLSchema/oval-common-5 product_version,omitempty"`
	SchemaVersion  string `xml:"http://oval.mitre.org/XMLSchema/oval-common-5 schema_version"`
	Timestamp      string `xml:"http://oval.mitre.org/XMLSchema/oval-common-5 timestamp"`
	ContentVersion string `xml:"http://oval.mitre.org/XMLSchema/oval-common-5 content_version,omitempty"`
}

// Definition is one vulnerability (or patch, inventory ...) definition.
type Definition struct {
	ID       string   `xml:"id,attr"`
	Version  int      `xml:"version,attr"`
	Class    string   `xml:"class,attr"`
	Metadata Metadata `xml:"metadata"`
	Criteria Criteria `xml:"criteria"`
}

// Metadata holds the standard fields plus the Azure Linux extensions
// (patchable, advisory_id, advisory_date, severity), which the schema allows
// as extra elements after description (Azure Linux's own feed puts them
// before it, which oscap's schema validation rejects; we write them after).
type Metadata struct {
	Title        string      `xml:"title"`
	Affected     Affected    `xml:"affected"`
	References   []Reference `xml:"reference"`
	Description  string      `xml:"description"`
	Patchable    string      `xml:"patchable,omitempty"`
	AdvisoryDate string      `xml:"advisory_date,omitempty"`
	AdvisoryID   string      `xml:"advisory_id,omitempty"`
	Severity     string      `xml:"severity,omitempty"`
}

// Affected names the family and platforms a definition applies to.
type Affected struct {
	Family    string   `xml:"family,attr"`
	Platforms []string `xml:"platform"`
}

// Reference points at an external identifier (a CVE).
type Reference struct {
	RefID  string `xml:"ref_id,attr"`
	RefURL string `xml:"ref_url,attr,omitempty"`
	Source string `xml:"source,attr"`
}

// Criteria combines criterions and nested criteria with an operator.
type Criteria struct {
	Operator   string      `xml:"operator,attr,omitempty"`
	Negate     bool        `xml:"negate,attr,omitempty"`
	Criteria   []Criteria  `xml:"criteria"`
	Criterions []Criterion `xml:"criterion"`
}

// Criterion refers to one test.
type Criterion struct {
	Comment string `xml:"comment,attr,omitempty"`
	TestRef string `xml:"test_ref,attr"`
	Negate  bool   `xml:"negate,attr,omitempty"`
}

// RPMInfoTest checks installed RPMs named by an object against a state.
type RPMInfoTest struct {
	XMLName xml.Name `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux rpminfo_test"`
	ID      string   `xml:"id,attr"`
	Version int      `xml:"version,attr"`
	Check   string   `xml:"check,attr"`
	Comment string   `xml:"comment,attr,omitempty"`
	Object  Ref      `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux object"`
	State   *Ref     `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux state,omitempty"`
}

// Ref is an object_ref or state_ref attribute holder.
type Ref struct {
	ObjectRef string `xml:"object_ref,attr,omitempty"`
	StateRef  string `xml:"state_ref,attr,omitempty"`
}

// RPMInfoObject names the RPM(s) a test looks at.
type RPMInfoObject struct {
	XMLName xml.Name `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux rpminfo_object"`
	ID      string   `xml:"id,attr"`
	Version int      `xml:"version,attr"`
	Name    string   `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux name"`
}

// RPMInfoState is the condition an RPM must meet.
type RPMInfoState struct {
	XMLName xml.Name `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux rpminfo_state"`
	ID      string   `xml:"id,attr"`
	Version int      `xml:"version,attr"`
	Arch    *Value   `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux arch,omitempty"`
	EVR     *Value   `xml:"http://oval.mitre.org/XMLSchema/oval-definitions-5#linux evr,omitempty"`
}

// Value is a typed entity with an operation.
type Value struct {
	Datatype  string `xml:"datatype,attr,omitempty"`
	Operation string `xml:"operation,attr,omitempty"`
	Text      string `xml:",chardata"`
}

// Parse decodes an OVAL definitions document and checks its references.
func Parse(name string, r io.Reader) (*Definitions, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var d Definitions
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s:%d: malformed XML: %s", name, se.Line, se.Msg)
		}
		return nil, fmt.Errorf("%s: not an OVAL definitions document: %w", name, err)
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &d, nil
}

// Index resolves test, object and state references.
type Index struct {
	Tests   map[string]*RPMInfoTest
	Objects map[string]*RPMInfoObject
	States  map[string]*RPMInfoState
}

// Index builds the reference maps.
func (d *Definitions) Index() Index {
	ix := Index{Tests: map[string]*RPMInfoTest{}, Objects: map[string]*RPMInfoObject{}, States: map[string]*RPMInfoState{}}
	for i := range d.Tests {
		ix.Tests[d.Tests[i].ID] = &d.Tests[i]
	}
	for i := range d.Objects {
		ix.Objects[d.Objects[i].ID] = &d.Objects[i]
	}
	for i := range d.States {
		ix.States[d.States[i].ID] = &d.States[i]
	}
	return ix
}

// Check verifies the structure: unique ids of the right kind, every reference
// resolving, and operations/datatypes from the 5.11 enumerations.
func (d *Definitions) Check() error {
	if d.Generator.SchemaVersion == "" || d.Generator.Timestamp == "" {
		return fmt.Errorf("generator: schema_version and timestamp are required")
	}
	seen := map[string]bool{}
	id := func(kind, v string) error {
		if !strings.HasPrefix(v, "oval:") || !strings.Contains(v, ":"+kind+":") {
			return fmt.Errorf("id %q: expected oval:<namespace>:%s:<n>", v, kind)
		}
		if seen[v] {
			return fmt.Errorf("id %q: duplicate", v)
		}
		seen[v] = true
		return nil
	}
	ix := d.Index()
	for _, def := range d.Definitions {
		if err := id("def", def.ID); err != nil {
			return fmt.Errorf("definition: %w", err)
		}
		switch def.Class {
		case "compliance", "inventory", "miscellaneous", "patch", "vulnerability":
		default:
			return fmt.Errorf("definition %s: class %q is not an OVAL class", def.ID, def.Class)
		}
		if def.Metadata.Title == "" {
			return fmt.Errorf("definition %s: metadata/title is required", def.ID)
		}
		if err := checkCriteria(def.ID, def.Criteria, ix); err != nil {
			return err
		}
	}
	for _, t := range d.Tests {
		if err := id("tst", t.ID); err != nil {
			return fmt.Errorf("rpminfo_test: %w", err)
		}
		switch t.Check {
		case "all", "at least one", "none satisfy", "only one":
		default:
			return fmt.Errorf("rpminfo_test %s: check %q is not a CheckEnumeration", t.ID, t.Check)
		}
		if ix.Objects[t.Object.ObjectRef] == nil {
			return fmt.Errorf("rpminfo_test %s: object_ref %q does not resolve", t.ID, t.Object.ObjectRef)
		}
		if t.State != nil && ix.States[t.State.StateRef] == nil {
			return fmt.Errorf("rpminfo_test %s: state_ref %q does not resolve", t.ID, t.State.StateRef)
		}
	}
	for _, o := range d.Objects {
		if err := id("obj", o.ID); err != nil {
			return fmt.Errorf("rpminfo_object: %w", err)
		}
		if o.Name == "" {
			return fmt.Errorf("rpminfo_object %s: name is required", o.ID)
		}
	}
	for _, s := range d.States {
		if err := id("ste", s.ID); err != nil {
			return fmt.Errorf("rpminfo_state: %w", err)
		}
		if s.EVR != nil {
			if s.EVR.Datatype != "evr_string" {
				return fmt.Errorf("rpminfo_state %s: evr datatype %q, expected evr_string", s.ID, s.EVR.Datatype)
			}
			if _, ok := Operations[s.EVR.Operation]; !ok {
				return fmt.Errorf("rpminfo_state %s: evr operation %q is not supported", s.ID, s.EVR.Operation)
			}
		}
	}
	return nil
}

// Operations maps the OVAL evr operations to the comparison results (-1, 0,
// 1) they accept.
var Operations = map[string][]int{
	"":                      {0},
	"equals":                {0},
	"not equal":             {-1, 1},
	"less than":             {-1},
	"less than or equal":    {-1, 0},
	"greater than":          {1},
	"greater than or equal": {0, 1},
}

func checkCriteria(def string, c Criteria, ix Index) error {
	switch c.Operator {
	case "", "AND", "OR", "ONE", "XOR":
	default:
		return fmt.Errorf("definition %s: criteria operator %q", def, c.Operator)
	}
	for _, cr := range c.Criterions {
		if ix.Tests[cr.TestRef] == nil {
			return fmt.Errorf("definition %s: test_ref %q does not resolve to an rpminfo_test", def, cr.TestRef)
		}
	}
	for _, sub := range c.Criteria {
		if err := checkCriteria(def, sub, ix); err != nil {
			return err
		}
	}
	return nil
}

// Marshal writes the document with an XML declaration. The linux-def
// elements carry their namespace as a default xmlns, which is equivalent to
// a prefix for every OVAL consumer.
func Marshal(d *Definitions) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
