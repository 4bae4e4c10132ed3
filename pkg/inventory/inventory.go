// Package inventory reads which RPM packages an artifact holds (RPM files,
// an image manifest, an image root's rpmdb, an SPDX or CycloneDX SBOM) and
// names them as package URLs (purl.go). It knows nothing of advisories:
// pkg/scan matches what it reads, pkg/sbom writes it out.
package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/cyclonedx"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/rpmdb"
	"github.com/keel-linux/keel/pkg/spdx"
)

// Package is one installed or shipped binary package.
type Package struct {
	Name    string `json:"name"`
	Epoch   int    `json:"epoch,omitempty"`
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch,omitempty"`
	Source  string `json:"source,omitempty"` // source package name; advisories match on it
	// Origin says where the package was read from (file, manifest, rpmdb).
	Origin string `json:"origin,omitempty"`
	// Header is set when read from an RPM header (RPM files, rpmdb).
	Header *rpm.Header `json:"-"`
}

// EVR is the package's epoch:version-release.
func (p Package) EVR() rpm.EVR {
	return rpm.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release}
}

// GoModule is a Go module vendored into a package.
type GoModule struct{ Path, Version string }

// GoModules lists the Go modules a package vendors, from its
// bundled(golang(MODULE)) = VERSION Provides (keel-go-macros writes them
// with rpm's "~" for Go's "-"), at their Go versions.
func (p Package) GoModules() []GoModule {
	if p.Header == nil {
		return nil
	}
	var out []GoModule
	for _, d := range p.Header.Provides() {
		mod, ok := strings.CutPrefix(d.Name, "bundled(golang(")
		if !ok || !strings.HasSuffix(mod, "))") || d.EVR.Version == "" {
			continue
		}
		out = append(out, GoModule{strings.TrimSuffix(mod, "))"), "v" + strings.ReplaceAll(d.EVR.Version, "~", "-")})
	}
	return out
}

// SourceName is the source package advisories are written against.
func (p Package) SourceName() string {
	if p.Source != "" {
		return p.Source
	}
	return p.Name
}

// SourceNameFromRPM turns "zlib-1.2.13-1.kl1.src.rpm" into "zlib".
func SourceNameFromRPM(srpm string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(srpm, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	for range 2 { // drop -release, then -version
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return s
		}
		s = s[:i]
	}
	return s
}

func fromHeader(h *rpm.Header, origin string) Package {
	ep, _ := h.Epoch()
	p := Package{Name: h.Name(), Epoch: ep, Version: h.Version(), Release: h.Release(), Arch: h.Arch(), Origin: origin, Header: h}
	if s := h.SourceRPM(); s != "" {
		p.Source = SourceNameFromRPM(s)
	}
	return p
}

// ReadRPMs reads binary RPM files (and every *.rpm under directories, as in
// a repository). Source RPMs are skipped: they are not installed.
func ReadRPMs(ctx context.Context, paths []string) ([]Package, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(f, ".rpm") && !strings.HasSuffix(f, ".src.rpm") {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", p, err)
		}
	}
	sort.Strings(files)
	var out []Package
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pkg, err := rpm.Open(f)
		if err != nil {
			return nil, err
		}
		if pkg.Header.IsSource() {
			continue
		}
		out = append(out, fromHeader(pkg.Header, f))
	}
	return out, nil
}

// RPMDBPath is where rpm keeps its sqlite database inside a root.
const RPMDBPath = "usr/lib/sysimage/rpm/rpmdb.sqlite"

// ReadRPMDB reads the packages installed in an image root (its
// usr/lib/sysimage/rpm/rpmdb.sqlite), read-only and without touching the
// file (immutable=1: images are read-only; FIELD-NOTES: WAL must be off).
func ReadRPMDB(ctx context.Context, root string) ([]Package, error) {
	p := filepath.Join(root, RPMDBPath)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("image root %s: no rpmdb: %w", root, err)
	}
	db, immutable := p, true
	if st, err := os.Stat(p + "-wal"); err == nil && st.Size() > 0 {
		// immutable=1 would ignore an un-checkpointed WAL (rpm after dnf,
		// FIELD-NOTES): read a private copy, where sqlite may replay it.
		tmp, err := os.MkdirTemp("", "keel-rpmdb-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		for _, suffix := range []string{"", "-wal"} {
			if err := atomicfile.Copy(p+suffix, filepath.Join(tmp, "rpmdb.sqlite"+suffix)); err != nil {
				return nil, fmt.Errorf("copying %s: %w", p+suffix, err)
			}
		}
		db, immutable = filepath.Join(tmp, "rpmdb.sqlite"), false
	}
	hs, err := rpmdb.Read(ctx, db, immutable)
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, h := range hs {
		out = append(out, fromHeader(h, "rpmdb"))
	}
	sortPackages(out)
	return out, nil
}

// Manifest is the documented image manifest shape scan accepts:
//
//	{"packages":[{"name":"zlib","epoch":0,"version":"1.2.13","release":"1.kl1",
//	              "arch":"x86_64","source":"zlib"}]}
//
// "sourcerpm" ("zlib-1.2.13-1.kl1.src.rpm") is accepted instead of "source".
type Manifest struct {
	Packages []ManifestPackage `json:"packages"`
}

// ManifestPackage is one entry of a Manifest.
type ManifestPackage struct {
	Name      string `json:"name"`
	Epoch     *int   `json:"epoch,omitempty"`
	Version   string `json:"version"`
	Release   string `json:"release"`
	Arch      string `json:"arch,omitempty"`
	Source    string `json:"source,omitempty"`
	SourceRPM string `json:"sourcerpm,omitempty"`
}

// ParseManifest reads an image manifest.
func ParseManifest(name string, data []byte) ([]Package, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not an image manifest ({\"packages\":[...]}): %w", name, err)
	}
	if m.Packages == nil {
		return nil, fmt.Errorf("%s: no \"packages\" list", name)
	}
	out := make([]Package, 0, len(m.Packages))
	for i, mp := range m.Packages {
		if mp.Name == "" || mp.Version == "" || mp.Release == "" {
			return nil, fmt.Errorf("%s: packages[%d]: name, version and release are required", name, i)
		}
		p := Package{Name: mp.Name, Version: mp.Version, Release: mp.Release, Arch: mp.Arch, Source: mp.Source, Origin: name}
		if mp.Epoch != nil {
			if *mp.Epoch < 0 {
				return nil, fmt.Errorf("%s: packages[%d] (%s): negative epoch", name, i, mp.Name)
			}
			p.Epoch = *mp.Epoch
		}
		if p.Source == "" && mp.SourceRPM != "" {
			p.Source = SourceNameFromRPM(mp.SourceRPM)
		}
		out = append(out, p)
	}
	sortPackages(out)
	return out, nil
}

// ReadSBOM reads the rpm packages of an SPDX 2.3 or CycloneDX JSON SBOM via
// their purls (pkg:rpm/...); other purl types are counted as skipped.
func ReadSBOM(name string, data []byte) (pkgs []Package, skipped int, err error) {
	var probe struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, 0, fmt.Errorf("%s: not a JSON SBOM: %w", name, err)
	}
	var purls []string
	switch {
	case probe.SPDXVersion != "":
		purls, err = spdx.Purls(name, data)
	case probe.BOMFormat == "CycloneDX":
		purls, err = cyclonedx.Purls(name, data)
	default:
		return nil, 0, fmt.Errorf("%s: neither SPDX (spdxVersion) nor CycloneDX (bomFormat)", name)
	}
	if err != nil {
		return nil, 0, err
	}
	for _, s := range purls {
		p, err := ParsePurl(s)
		if err != nil {
			skipped++
			continue
		}
		p.Origin = name
		pkgs = append(pkgs, p)
	}
	sortPackages(pkgs)
	return pkgs, skipped, nil
}

// ReadInput reads a scan input by kind: "rpm" (files or a repo directory),
// "image" (a manifest JSON or an image root directory with an rpmdb), "sbom".
func ReadInput(ctx context.Context, kind string, paths []string) ([]Package, []string, error) {
	var notes []string
	var out []Package
	for _, p := range paths {
		switch kind {
		case "rpm", "repo":
			ps, err := ReadRPMs(ctx, []string{p})
			if err != nil {
				return nil, nil, err
			}
			out = append(out, ps...)
		case "image":
			st, err := os.Stat(p)
			if err != nil {
				return nil, nil, err
			}
			var ps []Package
			if st.IsDir() {
				ps, err = ReadRPMDB(ctx, p)
			} else {
				var b []byte
				if b, err = os.ReadFile(p); err == nil {
					ps, err = ParseManifest(p, b)
				}
			}
			if err != nil {
				return nil, nil, err
			}
			out = append(out, ps...)
		case "sbom":
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, nil, err
			}
			ps, skipped, err := ReadSBOM(p, b)
			if err != nil {
				return nil, nil, err
			}
			if skipped > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d non-rpm components skipped", p, skipped))
			}
			out = append(out, ps...)
		default:
			return nil, nil, errors.New("scan input kind must be rpm, repo, image or sbom")
		}
	}
	sortPackages(out)
	return out, notes, nil
}

func sortPackages(ps []Package) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		if c := rpm.Compare(ps[i].EVR(), ps[j].EVR()); c != 0 {
			return c < 0
		}
		return ps[i].Arch < ps[j].Arch
	})
}
