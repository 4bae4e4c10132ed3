package repodata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/keel-linux/keel/pkg/rpm"
)

// ErrNoRepo means repoDir has no repodata/repomd.xml yet.
var ErrNoRepo = errors.New("no repodata/repomd.xml")

// ReadRepo reads repoDir's repomd.xml and the packages of its primary,
// filelists and other files (checksums verified), keeping each package's
// fragments verbatim for re-use.
func ReadRepo(repoDir string) (*Repomd, []*Package, error) {
	md, err := readRepomd(repoDir)
	if err != nil {
		return nil, nil, err
	}
	pkgs, err := ReadPackages(repoDir, md)
	if err != nil {
		return nil, nil, err
	}
	return md, pkgs, nil
}

func readRepomd(repoDir string) (*Repomd, error) {
	raw, err := os.ReadFile(filepath.Join(repoDir, "repodata", "repomd.xml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoRepo
	}
	if err != nil {
		return nil, err
	}
	return ParseRepomd(raw)
}

// ReadPackages reads the packages that md's primary/filelists/other describe.
func ReadPackages(repoDir string, md *Repomd) ([]*Package, error) {
	return ReadPackagesWith(md, func(rec *Record) ([]byte, error) { return ReadRecord(repoDir, rec) })
}

// ReadPackagesWith is ReadPackages with the metadata files read (checked
// and uncompressed, as ReadRecord does) by read, called concurrently.
func ReadPackagesWith(md *Repomd, read func(*Record) ([]byte, error)) ([]*Package, error) {
	var data [3][]byte
	var errs [3]error
	var wg sync.WaitGroup
	for i, typ := range []string{"primary", "filelists", "other"} {
		rec := md.Record(typ)
		if rec == nil {
			return nil, fmt.Errorf("repomd.xml: no %s record", typ)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			data[i], errs[i] = read(rec)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return parsePackages(data)
}

func parsePackages(data [3][]byte) ([]*Package, error) {
	prim, err := split(data[0], "primary")
	if err != nil {
		return nil, err
	}
	byID := map[string]*Package{}
	pkgs := make([]*Package, 0, len(prim))
	for i, frag := range prim {
		p, err := primaryIdentity(frag)
		if err != nil {
			return nil, fmt.Errorf("primary.xml: package %d: %w", i+1, err)
		}
		if byID[p.PkgID] != nil {
			return nil, fmt.Errorf("primary.xml: package %s listed twice", p.PkgID)
		}
		byID[p.PkgID] = p
		pkgs = append(pkgs, p)
	}
	for i, name := range []string{"filelists", "other"} {
		frags, err := split(data[i+1], name)
		if err != nil {
			return nil, err
		}
		for _, frag := range frags {
			id := html.UnescapeString(string(attrOf(frag, "<package", "pkgid")))
			p := byID[id]
			if p == nil {
				return nil, fmt.Errorf("%s.xml: package %q not in primary.xml", name, id)
			}
			if i == 0 {
				p.Filelists = frag
			} else {
				p.Other = frag
			}
		}
	}
	for _, p := range pkgs {
		if p.Filelists == nil || p.Other == nil {
			return nil, fmt.Errorf("%s: missing from filelists.xml or other.xml", p.Href)
		}
	}
	return pkgs, nil
}

// split cuts a metadata document into its <package …>…</package> elements
// (which never nest), each ending with a newline. The fragments share the
// document's memory where it has that newline (capacity capped: appending
// to one copies).
func split(doc []byte, what string) ([][]byte, error) {
	var out [][]byte
	rest := doc
	open := []byte("<package")
	end := []byte("</package>")
	for {
		i := bytes.Index(rest, open)
		if i < 0 {
			break
		}
		if j := i + len(open); j < len(rest) && rest[j] != ' ' && rest[j] != '>' && rest[j] != '\n' && rest[j] != '\t' {
			return nil, fmt.Errorf("%s.xml: unexpected element at byte %d", what, len(doc)-len(rest)+i)
		}
		k := bytes.Index(rest[i:], end)
		if k < 0 {
			return nil, fmt.Errorf("%s.xml: unterminated <package> at byte %d", what, len(doc)-len(rest)+i)
		}
		frag := rest[i : i+k+len(end)]
		if hasOpenTag(frag[len(open):]) {
			return nil, fmt.Errorf("%s.xml: nested <package> at byte %d", what, len(doc)-len(rest)+i)
		}
		if n := i + k + len(end); n < len(rest) && rest[n] == '\n' {
			out = append(out, rest[i:n+1:n+1]) // no copy: the document stays, read-only
		} else {
			out = append(out, append(append(make([]byte, 0, len(frag)+1), frag...), '\n'))
		}
		rest = rest[i+k+len(end):]
	}
	return out, nil
}

// hasOpenTag finds a nested "<package" start tag (not "<packager>").
func hasOpenTag(b []byte) bool {
	for {
		i := bytes.Index(b, []byte("<package"))
		if i < 0 {
			return false
		}
		b = b[i+len("<package"):]
		if len(b) > 0 && (b[0] == ' ' || b[0] == '>' || b[0] == '\n' || b[0] == '\t') {
			return true
		}
	}
}

// attrOf returns the value of attr in the first element starting with tag.
func attrOf(frag []byte, tag, attr string) []byte {
	i := bytes.Index(frag, []byte(tag))
	if i < 0 {
		return nil
	}
	el := frag[i:]
	if e := bytes.IndexByte(el, '>'); e >= 0 {
		el = el[:e]
	}
	k := bytes.Index(el, []byte(" "+attr+`="`))
	if k < 0 {
		return nil
	}
	v := el[k+len(attr)+3:]
	if e := bytes.IndexByte(v, '"'); e >= 0 {
		return v[:e]
	}
	return nil
}

func textOf(frag []byte, tag string) []byte {
	i := bytes.Index(frag, []byte("<"+tag))
	if i < 0 {
		return nil
	}
	v := frag[i:]
	s := bytes.IndexByte(v, '>')
	if s < 0 {
		return nil
	}
	v = v[s+1:]
	if e := bytes.Index(v, []byte("</"+tag+">")); e >= 0 {
		return v[:e]
	}
	return nil
}

func unesc(b []byte) string { return html.UnescapeString(string(b)) }

// primaryIdentity extracts what an update needs from a primary fragment
// without a full XML decode.
func primaryIdentity(frag []byte) (*Package, error) {
	p := &Package{Primary: frag}
	p.Name = unesc(textOf(frag, "name"))
	p.Arch = unesc(textOf(frag, "arch"))
	ep, _ := strconv.Atoi(string(attrOf(frag, "<version", "epoch")))
	p.EVR = rpm.EVR{Epoch: ep, Version: unesc(attrOf(frag, "<version", "ver")), Release: unesc(attrOf(frag, "<version", "rel"))}
	p.PkgID = string(textOf(frag, "checksum"))
	if t := string(attrOf(frag, "<checksum", "type")); t != "sha256" {
		return nil, fmt.Errorf("package %q: checksum type %q, want sha256", p.Name, t)
	}
	p.Href = unesc(attrOf(frag, "<location", "href"))
	p.Size, _ = strconv.ParseInt(string(attrOf(frag, "<size", "package")), 10, 64)
	p.Mtime, _ = strconv.ParseInt(string(attrOf(frag, "<time", "file")), 10, 64)
	if p.Name == "" || p.PkgID == "" || p.Href == "" {
		return nil, fmt.Errorf("missing name, checksum or location")
	}
	if !validHref(p.Href) {
		return nil, fmt.Errorf("package %q: location %q leaves the repository", p.Name, p.Href)
	}
	return p, nil
}

// Entry is a decoded primary.xml package, for resolvers and reports.
type Entry struct {
	Name       string
	Arch       string
	EVR        rpm.EVR
	Summary    string
	Href       string
	Checksum   string
	SourceRPM  string
	Provides   []rpm.Dependency
	Requires   []rpm.Dependency
	Conflicts  []rpm.Dependency
	Obsoletes  []rpm.Dependency
	Recommends []rpm.Dependency
	Files      []string // primary files only; see filelists for all
}

type xmlEntry struct {
	Name  string `xml:"name,attr"`
	Flags string `xml:"flags,attr"`
	Epoch string `xml:"epoch,attr"`
	Ver   string `xml:"ver,attr"`
	Rel   string `xml:"rel,attr"`
	Pre   string `xml:"pre,attr"`
}

type xmlPrimary struct {
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
	} `xml:"version"`
	Checksum string `xml:"checksum"`
	Summary  string `xml:"summary"`
	Location struct {
		Href string `xml:"href,attr"`
	} `xml:"location"`
	Format struct {
		SourceRPM  string     `xml:"sourcerpm"`
		Provides   []xmlEntry `xml:"provides>entry"`
		Requires   []xmlEntry `xml:"requires>entry"`
		Conflicts  []xmlEntry `xml:"conflicts>entry"`
		Obsoletes  []xmlEntry `xml:"obsoletes>entry"`
		Recommends []xmlEntry `xml:"recommends>entry"`
		Files      []string   `xml:"file"`
	} `xml:"format"`
}

var senseOf = map[string]uint32{
	"EQ": rpm.SenseEqual, "LT": rpm.SenseLess, "GT": rpm.SenseGreater,
	"LE": rpm.SenseLess | rpm.SenseEqual, "GE": rpm.SenseGreater | rpm.SenseEqual,
}

// Decode fully parses the package's primary fragment.
func (p *Package) Decode() (*Entry, error) {
	var x xmlPrimary
	if err := xml.Unmarshal(p.Primary, &x); err != nil {
		return nil, fmt.Errorf("primary.xml %s: %w", p.Href, err)
	}
	ep, _ := strconv.Atoi(x.Version.Epoch)
	e := &Entry{Name: x.Name, Arch: x.Arch, EVR: rpm.EVR{Epoch: ep, Version: x.Version.Ver, Release: x.Version.Rel},
		Summary: x.Summary, Href: x.Location.Href, Checksum: x.Checksum, SourceRPM: x.Format.SourceRPM, Files: x.Format.Files}
	conv := func(in []xmlEntry) []rpm.Dependency {
		out := make([]rpm.Dependency, 0, len(in))
		for _, d := range in {
			dep := rpm.Dependency{Name: d.Name, Flags: senseOf[d.Flags]}
			if d.Ver != "" {
				de, _ := strconv.Atoi(d.Epoch)
				dep.EVR = rpm.EVR{Epoch: de, Version: d.Ver, Release: d.Rel}
			}
			if d.Pre == "1" {
				dep.Flags |= rpm.SensePrereq
			}
			out = append(out, dep)
		}
		return out
	}
	e.Provides, e.Requires, e.Conflicts = conv(x.Format.Provides), conv(x.Format.Requires), conv(x.Format.Conflicts)
	e.Obsoletes, e.Recommends = conv(x.Format.Obsoletes), conv(x.Format.Recommends)
	return e, nil
}
