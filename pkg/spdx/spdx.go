// Package spdx writes and reads SPDX 2.3 JSON documents through
// github.com/spdx/tools-golang, with the few conventions Keel needs:
// package purls as PACKAGE-MANAGER external references, files with SHA1 and
// SHA256 digests, CONTAINS/DEPENDS_ON relationships.
package spdx

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	v23 "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// Package is one SPDX package to write.
type Package struct {
	Name, Version, Purl string
	Supplier            string // organization name
	License             string // declared licence expression ("" = NOASSERTION)
	Summary             string
	FileName            string // the .rpm file, when describing a repository
	SHA256              string // digest of FileName
	SourceInfo          string
	Files               []File
	Purpose             string // SPDX primary package purpose; "" is OPERATING-SYSTEM
}

// File is one file of a package, with both digests SPDX wants.
type File struct {
	Path         string
	SHA1, SHA256 string
}

// Relationship links two packages by name@version (DEPENDS_ON).
type Relationship struct{ From, To, Type string }

// Document describes what to put in the SPDX document.
type Document struct {
	Name      string
	Namespace string // base URI; a digest of the content is appended
	Created   time.Time
	Creator   string // "Tool: keel-<version>"
	Packages  []Package
	Relations []Relationship
}

var idUnsafe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9.-]`) }) // compiled on first use, not at keel start-up

func elementID(kind string, parts ...string) common.ElementID {
	return common.ElementID(kind + "-" + idUnsafe().ReplaceAllString(strings.Join(parts, "-"), "-"))
}

// Build turns a Document into a tools-golang SPDX 2.3 document. Output is
// deterministic for a given input.
func Build(d Document) *v23.Document {
	doc := &v23.Document{
		SPDXVersion:    v23.Version,
		DataLicense:    v23.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   d.Name,
		CreationInfo: &v23.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: d.Creator}},
			Created:  d.Created.UTC().Format(time.RFC3339),
		},
	}
	pkgs := append([]Package(nil), d.Packages...)
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Purl < pkgs[j].Purl
	})
	ids := map[string]common.ElementID{}
	seenFiles := map[common.ElementID]bool{}
	h := sha256.New()
	for i, p := range pkgs {
		id := elementID("Package", p.Name, p.Version, fmt.Sprint(i))
		ids[p.Name+"@"+p.Version] = id
		sp := &v23.Package{
			PackageName:               p.Name,
			PackageSPDXIdentifier:     id,
			PackageVersion:            p.Version,
			PackageFileName:           p.FileName,
			PackageDownloadLocation:   "NOASSERTION",
			PackageLicenseConcluded:   "NOASSERTION",
			PackageLicenseDeclared:    orNoAssertion(p.License),
			PackageCopyrightText:      "NOASSERTION",
			PackageSummary:            p.Summary,
			PackageSourceInfo:         p.SourceInfo,
			IsFilesAnalyzedTagPresent: true,
			PrimaryPackagePurpose:     cmp.Or(p.Purpose, "OPERATING-SYSTEM"),
		}
		if p.Supplier != "" {
			sp.PackageSupplier = &common.Supplier{Supplier: p.Supplier, SupplierType: "Organization"}
		}
		if p.SHA256 != "" {
			sp.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: p.SHA256}}
		}
		if p.Purl != "" {
			sp.PackageExternalReferences = []*v23.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.Purl}}
		}
		fmt.Fprintln(h, p.Purl, p.SHA256)
		if len(p.Files) > 0 {
			sp.FilesAnalyzed = true
			var sha1s []string
			files := append([]File(nil), p.Files...)
			sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
			for _, f := range files {
				fid := elementID("File", p.Name, f.Path)
				if seenFiles[fid] {
					fid = elementID("File", p.Name, f.Path, f.SHA256[:12])
				}
				seenFiles[fid] = true
				doc.Files = append(doc.Files, &v23.File{
					FileName:           "." + f.Path,
					FileSPDXIdentifier: fid,
					Checksums:          []common.Checksum{{Algorithm: common.SHA1, Value: f.SHA1}, {Algorithm: common.SHA256, Value: f.SHA256}},
					LicenseConcluded:   "NOASSERTION",
					FileCopyrightText:  "NOASSERTION",
				})
				doc.Relationships = append(doc.Relationships, &v23.Relationship{
					RefA: common.MakeDocElementID("", string(id)), RefB: common.MakeDocElementID("", string(fid)), Relationship: "CONTAINS"})
				sha1s = append(sha1s, f.SHA1)
				fmt.Fprintln(h, f.Path, f.SHA256)
			}
			sp.PackageVerificationCode = &common.PackageVerificationCode{Value: VerificationCode(sha1s)}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &v23.Relationship{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(id)), Relationship: "DESCRIBES"})
	}
	rels := append([]Relationship(nil), d.Relations...)
	sort.Slice(rels, func(i, j int) bool { return rels[i].From+rels[i].To < rels[j].From+rels[j].To })
	for _, r := range rels {
		a, b := ids[r.From], ids[r.To]
		if a == "" || b == "" {
			continue
		}
		doc.Relationships = append(doc.Relationships, &v23.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: r.Type})
	}
	doc.DocumentNamespace = strings.TrimSuffix(d.Namespace, "/") + "/" + d.Name + "-" + hex.EncodeToString(h.Sum(nil))[:16]
	return doc
}

// VerificationCode is SPDX's package verification code: SHA1 over the
// sorted, concatenated SHA1s of the package's files.
func VerificationCode(sha1s []string) string {
	s := append([]string(nil), sha1s...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

func orNoAssertion(s string) string {
	if s == "" {
		return "NOASSERTION"
	}
	return s
}

// Marshal writes the document as indented JSON.
func Marshal(doc *v23.Document) ([]byte, error) {
	var b bytes.Buffer
	if err := spdxjson.Write(doc, &b, spdxjson.Indent("  ")); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse reads an SPDX JSON document (any 2.x, converted to 2.3).
func Parse(name string, data []byte) (*v23.Document, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not an SPDX JSON document: %w", name, err)
	}
	return doc, nil
}

// Purls lists the purl external references of a document's packages.
func Purls(name string, data []byte) ([]string, error) {
	doc, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range doc.Packages {
		if p == nil { // an empty package object of an older SPDX version converts to nil
			continue
		}
		for _, r := range p.PackageExternalReferences {
			if r != nil && r.RefType == "purl" {
				out = append(out, r.Locator)
			}
		}
	}
	return out, nil
}
