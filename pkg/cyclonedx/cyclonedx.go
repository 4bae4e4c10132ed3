// Package cyclonedx writes and reads CycloneDX 1.6 JSON BOMs through
// github.com/CycloneDX/cyclonedx-go: one component per package (purl,
// hashes), its files as nested file components, and a dependency graph.
package cyclonedx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Component is one package to list.
type Component struct {
	Name, Version, Purl string
	Supplier            string
	License             string
	Description         string
	SHA256              string // of the .rpm file, when describing a repository
	Files               []File
}

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

// Build makes the cyclonedx-go BOM; deterministic for a given input (the
// serial number is derived from the content).
func Build(b BOM) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.Metadata = &cdx.Metadata{
		Timestamp: b.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: b.Tool, Version: b.ToolVer}}},
		Component: &cdx.Component{Type: cdx.ComponentTypeOS, BOMRef: "root", Name: b.Name, Version: b.Version},
	}
	comps := append([]Component(nil), b.Components...)
	sort.Slice(comps, func(i, j int) bool { return comps[i].Purl < comps[j].Purl })
	h := sha256.New()
	var list []cdx.Component
	var rootDeps []string
	for _, c := range comps {
		cc := cdx.Component{Type: cdx.ComponentTypeLibrary, BOMRef: c.Purl, Name: c.Name, Version: c.Version, PackageURL: c.Purl, Description: c.Description}
		if c.Supplier != "" {
			cc.Supplier = &cdx.OrganizationalEntity{Name: c.Supplier}
		}
		if c.License != "" {
			cc.Licenses = &cdx.Licenses{{Expression: c.License}}
		}
		if c.SHA256 != "" {
			cc.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: c.SHA256}}
		}
		fmt.Fprintln(h, c.Purl, c.SHA256)
		if len(c.Files) > 0 {
			files := append([]File(nil), c.Files...)
			sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
			var fc []cdx.Component
			for _, f := range files {
				fc = append(fc, cdx.Component{Type: cdx.ComponentTypeFile, BOMRef: c.Purl + "#" + f.Path, Name: f.Path,
					Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA1, Value: f.SHA1}, {Algorithm: cdx.HashAlgoSHA256, Value: f.SHA256}}})
				fmt.Fprintln(h, f.Path, f.SHA256)
			}
			cc.Components = &fc
		}
		list = append(list, cc)
		rootDeps = append(rootDeps, c.Purl)
	}
	bom.Components = &list
	deps := []cdx.Dependency{{Ref: "root", Dependencies: &rootDeps}}
	ds := append([]Dependency(nil), b.Dependencies...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Ref < ds[j].Ref })
	for _, d := range ds {
		on := append([]string(nil), d.DependsOn...)
		sort.Strings(on)
		deps = append(deps, cdx.Dependency{Ref: d.Ref, Dependencies: &on})
	}
	bom.Dependencies = &deps
	sum := hex.EncodeToString(h.Sum(nil))
	bom.SerialNumber = "urn:uuid:" + sum[0:8] + "-" + sum[8:12] + "-4" + sum[13:16] + "-8" + sum[17:20] + "-" + sum[20:32]
	return bom
}

// Marshal writes the BOM as CycloneDX 1.6 JSON.
func Marshal(bom *cdx.BOM) ([]byte, error) {
	var b bytes.Buffer
	enc := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse reads a CycloneDX JSON BOM.
func Parse(name string, data []byte) (*cdx.BOM, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%s: not a CycloneDX JSON BOM: %w", name, err)
	}
	if bom.BOMFormat != cdx.BOMFormat {
		return nil, fmt.Errorf("%s: bomFormat %q, expected CycloneDX", name, bom.BOMFormat)
	}
	return &bom, nil
}

// Purls lists the purls of a BOM's top-level and nested components.
func Purls(name string, data []byte) ([]string, error) {
	bom, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	var out []string
	var walk func([]cdx.Component)
	walk = func(cs []cdx.Component) {
		for _, c := range cs {
			if c.PackageURL != "" {
				out = append(out, c.PackageURL)
			}
			if c.Components != nil {
				walk(*c.Components)
			}
		}
	}
	if bom.Components != nil {
		walk(*bom.Components)
	}
	return out, nil
}
