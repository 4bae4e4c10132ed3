// Package repodata reads and writes rpm-md repository metadata (repomd.xml,
// primary, filelists, other) as createrepo_c writes it and dnf, tdnf and
// zypper read it. Each package's XML is kept as a verbatim fragment so an
// update re-uses the unchanged ones without re-reading their RPMs.
package repodata

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// XML namespaces of the rpm-md format.
const (
	NSCommon    = "http://linux.duke.edu/metadata/common"
	NSRpm       = "http://linux.duke.edu/metadata/rpm"
	NSFilelists = "http://linux.duke.edu/metadata/filelists"
	NSOther     = "http://linux.duke.edu/metadata/other"
	NSRepo      = "http://linux.duke.edu/metadata/repo"
)

// Package is one package's metadata: identity plus its three XML fragments.
type Package struct {
	PkgID     string // sha256 of the .rpm file, hex
	Name      string
	Arch      string
	EVR       rpm.EVR
	Href      string // location relative to the repo root
	Size      int64  // file size
	Mtime     int64  // file mtime as recorded (time file=)
	Primary   []byte // <package type="rpm">…</package>
	Filelists []byte // <package pkgid=…>…</package>
	Other     []byte // <package pkgid=…>…</package>

	chunk *stateChunk // where ReadState found it (fragments loaded on demand)
}

// NEVRA identifies the package regardless of file name.
func (p *Package) NEVRA() string {
	return p.Name + "-" + p.EVR.String() + "." + p.Arch
}

// FileInfo is what the metadata records about the .rpm file itself.
type FileInfo struct {
	Href     string
	Size     int64
	Mtime    int64
	Checksum string // sha256 hex
}

// isPrimaryFile mirrors createrepo_c: files dnf may need to resolve
// file dependencies without filelists go into primary.xml.
func isPrimaryFile(p string) bool {
	return strings.HasPrefix(p, "/etc/") || strings.Contains(p, "bin/") || p == "/usr/lib/sendmail"
}

type xb struct{ bytes.Buffer }

// text escapes s for XML. Characters XML 1.0 cannot carry at all (most
// C0 controls, invalid UTF-8) become U+FFFD: one hostile summary must not
// make the whole primary.xml unparsable for dnf.
func (b *xb) text(s string) { b.escape(s, false) }

func (b *xb) escape(s string, attr bool) {
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"' && attr:
			b.WriteString("&quot;")
		case (r == '\n' || r == '\t' || r == '\r') && attr:
			fmt.Fprintf(&b.Buffer, "&#%d;", r)
		case r == '\r':
			b.WriteString("&#13;")
		case r < 0x20 && r != '\n' && r != '\t', r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(0xFFFD)
		default:
			b.WriteRune(r)
		}
	}
}

func (b *xb) attr(name, val string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	b.escape(val, true)
	b.WriteByte('"')
}

func (b *xb) elem(indent, name, val string) {
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	b.text(val)
	b.WriteString("</")
	b.WriteString(name)
	b.WriteString(">\n")
}

func (b *xb) version(indent string, e rpm.EVR) {
	b.WriteString(indent + "<version")
	b.attr("epoch", strconv.Itoa(e.Epoch))
	b.attr("ver", e.Version)
	b.attr("rel", e.Release)
	b.WriteString("/>\n")
}

// NewPackage builds the metadata of an opened package stored at fi.Href.
func NewPackage(p *rpm.Package, fi FileInfo) (*Package, error) {
	h := p.Header
	if h.IsSource() {
		return nil, fmt.Errorf("%s: source packages are not published in a binary repository", fi.Href)
	}
	files, err := h.Files()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fi.Href, err)
	}
	evr := h.EVR()
	pk := &Package{PkgID: fi.Checksum, Name: h.Name(), Arch: h.Arch(), EVR: evr, Href: fi.Href, Size: fi.Size, Mtime: fi.Mtime}

	var b xb
	b.WriteString("<package type=\"rpm\">\n")
	b.elem("  ", "name", pk.Name)
	b.elem("  ", "arch", pk.Arch)
	b.version("  ", evr)
	b.WriteString(`  <checksum type="sha256" pkgid="YES">` + fi.Checksum + "</checksum>\n")
	b.elem("  ", "summary", h.Summary())
	b.elem("  ", "description", h.Description())
	b.elem("  ", "packager", h.Packager())
	b.elem("  ", "url", h.URL())
	fmt.Fprintf(&b, "  <time file=\"%d\" build=\"%d\"/>\n", fi.Mtime, h.BuildTime().Unix())
	fmt.Fprintf(&b, "  <size package=\"%d\" installed=\"%d\" archive=\"%d\"/>\n", fi.Size, h.Size(), archiveSize(p))
	b.WriteString("  <location")
	b.attr("href", fi.Href)
	b.WriteString("/>\n  <format>\n")
	b.elem("    ", "rpm:license", h.License())
	b.elem("    ", "rpm:vendor", h.Vendor())
	b.elem("    ", "rpm:group", h.Group())
	b.elem("    ", "rpm:buildhost", h.BuildHost())
	b.elem("    ", "rpm:sourcerpm", h.SourceRPM())
	hdrStart := rpm.LeadSize + len(p.SignatureBlob) + (8-len(p.SignatureBlob)%8)%8
	fmt.Fprintf(&b, "    <rpm:header-range start=\"%d\" end=\"%d\"/>\n", hdrStart, p.PayloadOffset)

	fileSet := make(map[string]bool, len(files))
	for _, f := range files {
		fileSet[f.Path] = true
	}
	deps := func(tag string, list []rpm.Dependency, requires bool) {
		seen := map[string]bool{}
		var out []rpm.Dependency
		for _, d := range list {
			if requires {
				// As createrepo_c: rpmlib() and self-provided files are not real requirements.
				if strings.HasPrefix(d.Name, "rpmlib(") || (strings.HasPrefix(d.Name, "/") && fileSet[d.Name]) {
					continue
				}
			}
			k := d.Name + "\x00" + d.Relation() + "\x00" + d.EVR.Full() + strconv.FormatBool(requires && d.Pre())
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, d)
		}
		if len(out) == 0 {
			return
		}
		b.WriteString("    <rpm:" + tag + ">\n")
		for _, d := range out {
			b.WriteString("      <rpm:entry")
			b.attr("name", d.Name)
			if rel := d.Relation(); rel != "" && d.EVR.Version != "" {
				b.attr("flags", rel)
				b.attr("epoch", strconv.Itoa(d.EVR.Epoch))
				b.attr("ver", d.EVR.Version)
				if d.EVR.Release != "" {
					b.attr("rel", d.EVR.Release)
				}
			}
			if requires && d.Pre() {
				b.attr("pre", "1")
			}
			b.WriteString("/>\n")
		}
		b.WriteString("    </rpm:" + tag + ">\n")
	}
	deps("provides", h.Provides(), false)
	deps("requires", h.Requires(), true)
	deps("conflicts", h.Conflicts(), false)
	deps("obsoletes", h.Obsoletes(), false)
	deps("suggests", h.Suggests(), false)
	deps("enhances", h.Enhances(), false)
	deps("recommends", h.Recommends(), false)
	deps("supplements", h.Supplements(), false)

	sorted := make([]rpm.File, len(files))
	copy(sorted, files)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	fileElem := func(f rpm.File, indent string) {
		b.WriteString(indent + "<file")
		switch {
		case f.IsDir():
			b.attr("type", "dir")
		case f.IsGhost():
			b.attr("type", "ghost")
		}
		b.WriteByte('>')
		b.text(f.Path)
		b.WriteString("</file>\n")
	}
	for _, f := range sorted {
		if isPrimaryFile(f.Path) {
			fileElem(f, "    ")
		}
	}
	b.WriteString("  </format>\n</package>\n")
	pk.Primary = append([]byte(nil), b.Bytes()...)

	b.Reset()
	b.WriteString("<package")
	b.attr("pkgid", fi.Checksum)
	b.attr("name", pk.Name)
	b.attr("arch", pk.Arch)
	b.WriteString(">\n")
	b.version("  ", evr)
	for _, f := range sorted {
		fileElem(f, "  ")
	}
	b.WriteString("</package>\n")
	pk.Filelists = append([]byte(nil), b.Bytes()...)

	b.Reset()
	b.WriteString("<package")
	b.attr("pkgid", fi.Checksum)
	b.attr("name", pk.Name)
	b.attr("arch", pk.Arch)
	b.WriteString(">\n")
	b.version("  ", evr)
	cl := h.Changelog()
	// Oldest first, as createrepo_c writes them.
	for i := len(cl) - 1; i >= 0; i-- {
		c := cl[i]
		b.WriteString("  <changelog")
		b.attr("author", c.Author)
		b.attr("date", strconv.FormatInt(c.Time.Unix(), 10))
		b.WriteByte('>')
		b.text(c.Text)
		b.WriteString("</changelog>\n")
	}
	b.WriteString("</package>\n")
	pk.Other = append([]byte(nil), b.Bytes()...)
	return pk, nil
}

func archiveSize(p *rpm.Package) uint64 {
	if v, ok := p.Signature.Uint64(rpm.SigTagLongArchiveSize); ok {
		return v
	}
	if v, ok := p.Signature.Uint64(rpm.SigTagPayloadSize); ok {
		return v
	}
	return p.Header.ArchiveSize()
}
