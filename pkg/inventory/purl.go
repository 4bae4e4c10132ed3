package inventory

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// PurlOptions name the distribution in package URLs.
type PurlOptions struct {
	Namespace string // "keel"
	Distro    string // "keel-1.0"
}

// Purl renders pkg:rpm/<ns>/<name>@<version>-<release>?arch=…&epoch=…&distro=…
// (qualifiers sorted, as the purl spec requires; epoch only when non-zero).
func (p Package) Purl(o PurlOptions) string {
	q := url.Values{}
	if p.Arch != "" {
		q.Set("arch", p.Arch)
	}
	if p.Epoch != 0 {
		q.Set("epoch", strconv.Itoa(p.Epoch))
	}
	if o.Distro != "" {
		q.Set("distro", o.Distro)
	}
	s := "pkg:rpm/" + purlEscape(o.Namespace) + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version+"-"+p.Release)
	if len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+url.QueryEscape(q.Get(k)))
		}
		s += "?" + strings.Join(parts, "&")
	}
	return s
}

// ParsePurl reads an rpm package URL back. The source package comes from an
// "upstream" qualifier (syft writes the source RPM file name there).
func ParsePurl(s string) (Package, error) {
	rest, ok := strings.CutPrefix(s, "pkg:rpm/")
	if !ok {
		return Package{}, fmt.Errorf("purl %q: not pkg:rpm/", s)
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	var query string
	rest, query, _ = strings.Cut(rest, "?")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return Package{}, fmt.Errorf("purl %q: no @version", s)
	}
	path, ver := rest[:at], rest[at+1:]
	segs := strings.Split(path, "/")
	name, err := url.PathUnescape(segs[len(segs)-1])
	if err != nil || name == "" {
		return Package{}, fmt.Errorf("purl %q: bad name", s)
	}
	ver, err = url.PathUnescape(ver)
	if err != nil {
		return Package{}, fmt.Errorf("purl %q: bad version", s)
	}
	p := Package{Name: name}
	i := strings.LastIndexByte(ver, '-')
	if i <= 0 || i == len(ver)-1 {
		return Package{}, fmt.Errorf("purl %q: version %q is not version-release", s, ver)
	}
	p.Version, p.Release = ver[:i], ver[i+1:]
	q, err := url.ParseQuery(query)
	if err != nil {
		return Package{}, fmt.Errorf("purl %q: qualifiers: %w", s, err)
	}
	p.Arch = q.Get("arch")
	if e := q.Get("epoch"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 0 {
			return Package{}, fmt.Errorf("purl %q: epoch %q", s, e)
		}
		p.Epoch = n
	}
	if up := q.Get("upstream"); up != "" {
		p.Source = SourceNameFromRPM(up)
	}
	return p, nil
}

// purlEscape percent-encodes like packageurl-go (and so syft): '+' too.
func purlEscape(s string) string { return strings.ReplaceAll(url.PathEscape(s), "+", "%2B") }

// PurlFunc is the purl of a source package at an EVR ("" evr: the package
// itself), for advisory exports (advisory.ExportOptions.Purl).
func PurlFunc(o PurlOptions) func(pkg, evr string) string {
	return func(pkg, evr string) string {
		if evr == "" {
			return "pkg:rpm/" + purlEscape(o.Namespace) + "/" + purlEscape(pkg) + "?distro=" + url.QueryEscape(o.Distro)
		}
		e, err := rpm.ParseEVR(evr)
		if err != nil {
			return "pkg:rpm/" + purlEscape(o.Namespace) + "/" + purlEscape(pkg)
		}
		return Package{Name: pkg, Epoch: e.Epoch, Version: e.Version, Release: e.Release}.Purl(o)
	}
}

// Purl is the package URL of a Go module, pkg:golang/<module>@<version>,
// each path segment escaped.
func (g GoModule) Purl() string {
	segs := strings.Split(g.Path, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	return "pkg:golang/" + strings.Join(segs, "/") + "@" + purlEscape(g.Version)
}
