// Package cyclonedx writes and reads CycloneDX 1.6 JSON BOMs: one component
// per package (purl, hashes), its files as nested file components, and a
// dependency graph.
//
// The JSON types below are the part of the CycloneDX 1.6 object model keel
// writes, with the field names and order of github.com/CycloneDX/cyclonedx-go
// (the output is byte for byte what that library wrote for keel). The
// library itself is no longer linked into keel: its deep-copy helper imports
// encoding/gob, whose init cost every keel command, however small, about a
// millisecond of CPU before it ran (measured on `keel repo index`). The
// tests decode keel's BOMs with cyclonedx-go and validate them against the
// official 1.6 schema it ships.
package cyclonedx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"encoding/json"
)

// Component is one package to list.
type Component struct {
	Name, Version, Purl string
	Supplier            string
	License             string
	Description         string
	SHA256              string // of the .rpm file, when describing a repository
	Files               []File
	// Modules are components bundled inside this one (the Go modules an RPM
	// vendors), nested as its components.
	Modules []Module
}

// Module is a component bundled in another, named by its purl.
type Module struct{ Name, Version, Purl string }

// File is a file in a package.
type File struct{ Path, SHA1, SHA256 string }

// Dependency says a component (by purl) depends on others.
type Dependency struct {
	Ref       string
	DependsOn []string
}

// BOM describes what to write.
type BOM struct {
	Name         string // the image or repository
	Version      string
	Created      time.Time
	Tool         string // "keel"
	ToolVer      string
	Components   []Component
	Dependencies []Dependency
}

// The CycloneDX 1.6 JSON object model, as far as keel uses it.
type (
	Document struct {
		Schema       string          `json:"$schema,omitempty"`
		BOMFormat    string          `json:"bomFormat"`
		SpecVersion  string          `json:"specVersion"`
		SerialNumber string          `json:"serialNumber,omitempty"`
		Version      int             `json:"version"`
		Metadata     *Metadata       `json:"metadata,omitempty"`
		Components   []DocComponent  `json:"components,omitempty"`
		Dependencies []DocDependency `json:"dependencies,omitempty"`
	}
	Metadata struct {
		Timestamp string        `json:"timestamp,omitempty"`
		Tools     *Tools        `json:"tools,omitempty"`
		Component *DocComponent `json:"component,omitempty"`
	}
	Tools struct {
		Components []DocComponent `json:"components,omitempty"`
	}
	DocComponent struct {
		BOMRef      string         `json:"bom-ref,omitempty"`
		Type        string         `json:"type"`
		Supplier    *Organization  `json:"supplier,omitempty"`
		Name        string         `json:"name"`
		Version     string         `json:"version,omitempty"`
		Description string         `json:"description,omitempty"`
		Hashes      []Hash         `json:"hashes,omitempty"`
		Licenses    []License      `json:"licenses,omitempty"`
		Purl        string         `json:"purl,omitempty"`
		Components  []DocComponent `json:"components,omitempty"`
	}
	Organization struct {
		Name string `json:"name,omitempty"`
	}
	Hash struct {
		Algorithm string `json:"alg"`
		Value     string `json:"content"`
	}
	License struct {
		Expression string `json:"expression,omitempty"`
	}
	DocDependency struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn,omitempty"`
	}
)

const (
	bomFormat   = "CycloneDX"
	specVersion = "1.6"
	schemaURL   = "http://cyclonedx.org/schema/bom-1.6.schema.json"
)

// Build makes the CycloneDX document; deterministic for a given input (the
// serial number is derived from the content).
func Build(b BOM) *Document {
	bom := &Document{Schema: schemaURL, BOMFormat: bomFormat, SpecVersion: specVersion, Version: 1}
	bom.Metadata = &Metadata{
		Timestamp: b.Created.UTC().Format(time.RFC3339),
		Tools:     &Tools{Components: []DocComponent{{Type: "application", Name: b.Tool, Version: b.ToolVer}}},
		Component: &DocComponent{Type: "operating-system", BOMRef: "root", Name: b.Name, Version: b.Version},
	}
	comps := append([]Component(nil), b.Components...)
	sort.Slice(comps, func(i, j int) bool { return comps[i].Purl < comps[j].Purl })
	h := sha256.New()
	var list []DocComponent
	var rootDeps []string
	for _, c := range comps {
		cc := DocComponent{Type: "library", BOMRef: c.Purl, Name: c.Name, Version: c.Version, Purl: c.Purl, Description: c.Description}
		if c.Supplier != "" {
			cc.Supplier = &Organization{Name: c.Supplier}
		}
		if c.License != "" {
			cc.Licenses = []License{{Expression: c.License}}
		}
		if c.SHA256 != "" {
			cc.Hashes = []Hash{{Algorithm: "SHA-256", Value: c.SHA256}}
		}
		fmt.Fprintln(h, c.Purl, c.SHA256)
		if len(c.Files) > 0 {
			files := append([]File(nil), c.Files...)
			sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
			for _, f := range files {
				cc.Components = append(cc.Components, DocComponent{Type: "file", BOMRef: c.Purl + "#" + f.Path, Name: f.Path,
					Hashes: []Hash{{Algorithm: "SHA-1", Value: f.SHA1}, {Algorithm: "SHA-256", Value: f.SHA256}}})
				fmt.Fprintln(h, f.Path, f.SHA256)
			}
		}
		mods := append([]Module(nil), c.Modules...)
		sort.Slice(mods, func(i, j int) bool { return mods[i].Purl < mods[j].Purl })
		for _, m := range mods {
			cc.Components = append(cc.Components, DocComponent{Type: "library", BOMRef: c.Purl + "#" + m.Purl, Name: m.Name, Version: m.Version, Purl: m.Purl})
			fmt.Fprintln(h, m.Purl)
		}
		list = append(list, cc)
		rootDeps = append(rootDeps, c.Purl)
	}
	bom.Components = list
	deps := []DocDependency{{Ref: "root", DependsOn: rootDeps}}
	ds := append([]Dependency(nil), b.Dependencies...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Ref < ds[j].Ref })
	for _, d := range ds {
		on := append([]string(nil), d.DependsOn...)
		sort.Strings(on)
		deps = append(deps, DocDependency{Ref: d.Ref, DependsOn: on})
	}
	bom.Dependencies = deps
	sum := hex.EncodeToString(h.Sum(nil))
	bom.SerialNumber = "urn:uuid:" + sum[0:8] + "-" + sum[8:12] + "-4" + sum[13:16] + "-8" + sum[17:20] + "-" + sum[20:32]
	return bom
}

// Marshal writes the document as CycloneDX 1.6 JSON.
func Marshal(bom *Document) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bom); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// parsed is what Purls reads of any CycloneDX 1.x JSON BOM (other tools'
// too: fields that changed shape between versions, such as metadata.tools,
// are not decoded).
type parsed struct {
	BOMFormat  string            `json:"bomFormat"`
	Components []parsedComponent `json:"components"`
}

type parsedComponent struct {
	Purl       string            `json:"purl"`
	Components []parsedComponent `json:"components"`
}

// Purls lists the purls of a BOM's top-level and nested components.
func Purls(name string, data []byte) ([]string, error) {
	var bom parsed
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, fmt.Errorf("%s: not a CycloneDX JSON BOM: %w", name, err)
	}
	if bom.BOMFormat != bomFormat {
		return nil, fmt.Errorf("%s: bomFormat %q, expected CycloneDX", name, bom.BOMFormat)
	}
	var out []string
	var walk func([]parsedComponent)
	walk = func(cs []parsedComponent) {
		for _, c := range cs {
			if c.Purl != "" {
				out = append(out, c.Purl)
			}
			walk(c.Components)
		}
	}
	walk(bom.Components)
	return out, nil
}
