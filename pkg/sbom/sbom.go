// Package sbom writes SPDX 2.3 and CycloneDX 1.6 SBOMs for a repository of
// RPMs or an image root (its rpmdb), with Keel purls, file digests and
// dependency relationships.
package sbom

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/keel-linux/keel/pkg/cyclonedx"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/spdx"
)

// Options configure Generate.
type Options struct {
	Kind     string   // "repo" (RPM files / directories) or "image" (a root with an rpmdb)
	Inputs   []string // paths
	Name     string   // document name (image or repository name)
	Version  string
	Created  time.Time // SOURCE_DATE_EPOCH for reproducible output
	Purl     inventory.PurlOptions
	Supplier string // "Keel Linux"
	Tool     string // "keel-<version>"
	// Namespace is the URI SPDX document namespaces start with (the
	// distribution's home_url + /spdx); default https://keel-linux.io/spdx.
	Namespace string
	// Files adds per-file digests (image roots: hashed from the root).
	Files bool
}

// Result holds both documents, already encoded.
type Result struct {
	SPDX      []byte
	CycloneDX []byte
	Packages  int
	Files     int
}

type entry struct {
	pkg    inventory.Package
	sha256 string
	file   string
	files  []spdx.File
}

// Generate reads the packages and writes both SBOMs.
func Generate(ctx context.Context, o Options) (*Result, error) {
	var pkgs []inventory.Package
	var err error
	switch o.Kind {
	case "repo", "rpm":
		pkgs, err = inventory.ReadRPMs(ctx, o.Inputs)
	case "image":
		for _, root := range o.Inputs {
			ps, err := inventory.ReadRPMDB(ctx, root)
			if err != nil {
				return nil, err
			}
			pkgs = append(pkgs, ps...)
		}
	default:
		return nil, fmt.Errorf("sbom kind %q: expected repo or image", o.Kind)
	}
	if err != nil {
		return nil, err
	}
	var entries []entry
	nfiles := 0
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := entry{pkg: p}
		if o.Kind != "image" {
			sum, err := fileSHA256(p.Origin)
			if err != nil {
				return nil, err
			}
			e.sha256, e.file = sum, filepath.Base(p.Origin)
		} else if o.Files && p.Header != nil {
			e.files, err = hashFiles(o.Inputs[0], p.Header)
			if err != nil {
				return nil, fmt.Errorf("package %s: %w", p.Name, err)
			}
			nfiles += len(e.files)
		}
		entries = append(entries, e)
	}
	deps := dependencies(pkgs, o.Purl)
	if o.Namespace == "" {
		o.Namespace = "https://keel-linux.io/spdx"
	}
	sd := spdx.Document{Name: o.Name, Namespace: o.Namespace, Created: o.Created, Creator: o.Tool}
	cb := cyclonedx.BOM{Name: o.Name, Version: o.Version, Created: o.Created, Tool: "keel", ToolVer: strings.TrimPrefix(o.Tool, "keel-")}
	for _, e := range entries {
		p := e.pkg
		purl := p.Purl(o.Purl)
		var lic, sum string
		if p.Header != nil {
			lic, sum = p.Header.License(), p.Header.Summary()
		}
		vr := p.Version + "-" + p.Release
		sp := spdx.Package{Name: p.Name, Version: vr, Purl: purl, Supplier: o.Supplier, Summary: sum,
			FileName: e.file, SHA256: e.sha256, Files: e.files}
		if p.Source != "" {
			sp.SourceInfo = "built from source package " + p.Source
		}
		// Licence strings in RPM headers are Fedora-style, not always valid SPDX
		// expressions; only pass simple ones through.
		if validLicense(lic) {
			sp.License = lic
		}
		sd.Packages = append(sd.Packages, sp)
		cc := cyclonedx.Component{Name: p.Name, Version: vr, Purl: purl, Supplier: o.Supplier, Description: sum, SHA256: e.sha256}
		if validLicense(lic) {
			cc.License = lic
		}
		for _, f := range e.files {
			cc.Files = append(cc.Files, cyclonedx.File{Path: f.Path, SHA1: f.SHA1, SHA256: f.SHA256})
		}
		// Vendored Go modules: components of the package that bundles them.
		for _, g := range p.GoModules() {
			gp := g.Purl()
			cc.Modules = append(cc.Modules, cyclonedx.Module{Name: g.Path, Version: g.Version, Purl: gp})
			sd.Packages = append(sd.Packages, spdx.Package{Name: g.Path, Version: g.Version, Purl: gp, Purpose: "LIBRARY",
				SourceInfo: "vendored into " + p.Name + " " + vr})
			sd.Relations = append(sd.Relations, spdx.Relationship{From: p.Name + "@" + vr, To: g.Path + "@" + g.Version, Type: "CONTAINS"})
		}
		cb.Components = append(cb.Components, cc)
	}
	for from, tos := range deps {
		cb.Dependencies = append(cb.Dependencies, cyclonedx.Dependency{Ref: from.purl, DependsOn: purlsOf(tos)})
		for _, to := range tos {
			sd.Relations = append(sd.Relations, spdx.Relationship{From: from.nv, To: to.nv, Type: "DEPENDS_ON"})
		}
	}
	res := &Result{Packages: len(entries), Files: nfiles}
	if res.SPDX, err = spdx.Marshal(spdx.Build(sd)); err != nil {
		return nil, err
	}
	if res.CycloneDX, err = cyclonedx.Marshal(cyclonedx.Build(cb)); err != nil {
		return nil, err
	}
	return res, nil
}

type node struct{ nv, purl string }

func purlsOf(ns []node) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.purl)
	}
	sort.Strings(out)
	return out
}

// dependencies resolves each package's Requires against the others'
// Provides and file lists (rpmlib() and unresolved requirements are left out).
func dependencies(pkgs []inventory.Package, po inventory.PurlOptions) map[node][]node {
	provides := map[string][]int{}
	for i, p := range pkgs {
		if p.Header == nil {
			continue
		}
		provides[p.Name] = append(provides[p.Name], i)
		for _, d := range p.Header.Provides() {
			provides[d.Name] = append(provides[d.Name], i)
		}
		if paths, err := p.Header.FilePaths(); err == nil {
			for _, f := range paths {
				provides[f] = append(provides[f], i)
			}
		}
	}
	out := map[node][]node{}
	for i, p := range pkgs {
		if p.Header == nil {
			continue
		}
		from := node{p.Name + "@" + p.Version + "-" + p.Release, p.Purl(po)}
		seen := map[int]bool{i: true}
		for _, d := range p.Header.Requires() {
			for _, j := range provides[d.Name] {
				if seen[j] {
					continue
				}
				seen[j] = true
				q := pkgs[j]
				out[from] = append(out[from], node{q.Name + "@" + q.Version + "-" + q.Release, q.Purl(po)})
			}
		}
	}
	return out
}

func validLicense(s string) bool {
	if s == "" {
		return false
	}
	for _, f := range strings.Fields(s) {
		switch f {
		case "AND", "OR", "WITH":
			continue
		}
		for _, c := range f {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '+') {
				return false
			}
		}
	}
	return true
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFiles digests a package's regular files as they are in the root,
// through an os.Root: no link leads out of it.
func hashFiles(root string, h *rpm.Header) ([]spdx.File, error) {
	files, err := h.Files()
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []spdx.File
	for _, f := range files {
		if f.IsGhost() || f.Mode&0o170000 != 0o100000 {
			continue
		}
		p := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		st, err := r.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue // --justdb roots, excluded docs, a linked parent: nothing to hash
		}
		fh, err := r.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		s1, s256 := sha1.New(), sha256.New()
		_, err = io.Copy(io.MultiWriter(s1, s256), fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", p, err)
		}
		out = append(out, spdx.File{Path: f.Path, SHA1: hex.EncodeToString(s1.Sum(nil)), SHA256: hex.EncodeToString(s256.Sum(nil))})
	}
	return out, nil
}
