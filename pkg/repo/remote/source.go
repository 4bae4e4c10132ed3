// Package remote is how Keel reads an rpm-md repository that is not (only)
// a local directory: a small transport interface in the style of
// go-containerregistry's (Source: a local directory, an HTTP(S) server, or
// mirrors of one repository tried in turn) and a content-addressed cache
// under the Keel cache that metadata and packages are downloaded into,
// resumably, with retries, verified by checksum before they are renamed
// into place. What a repository's files mean (repomd.xml, its signature,
// the packages') is for its callers: nothing here trusts anything.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Source is one repository's files, named by slash-separated paths
// relative to its root ("repodata/repomd.xml", a package's href).
type Source interface {
	// URL names the repository in messages, manifests and lock files.
	URL() string
	// Open reads rel from offset on (a resumed download). start is where
	// the reader really begins: a server that ignores Range starts at 0.
	Open(ctx context.Context, rel string, offset int64) (r io.ReadCloser, start int64, err error)
	// LocalPath is rel's path on this machine when it needs no download,
	// else "".
	LocalPath(rel string) string
}

// ErrNotFound (wrapped) means the repository has no such file.
var ErrNotFound = errors.New("not found")

// permanentError is a failure that retrying cannot mend (a 404, a refused
// redirect, a bad URL).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// Open returns the Source that spec names: a directory (or file://URL),
// an http:// or https:// URL, or several URLs separated by commas, which
// are mirrors of one repository (as dnf's baseurl list): tried in order,
// staying with the first that answers. A plain directory path is never
// split (it may hold a comma).
func Open(spec string) (Source, error) {
	if !IsURL(spec) {
		return Dir(spec), nil
	}
	parts := strings.Split(spec, ",")
	var srcs []Source
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		s, err := open1(p)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	switch len(srcs) {
	case 0:
		return nil, fmt.Errorf("repository %q: empty", spec)
	case 1:
		return srcs[0], nil
	}
	return &Mirrors{List: srcs}, nil
}

// IsURL reports whether spec names a repository by URL rather than as a
// plain directory path.
func IsURL(spec string) bool { return strings.Contains(spec, "://") }

func open1(spec string) (Source, error) {
	if !IsURL(spec) {
		return nil, fmt.Errorf("repository %s: a mirror list holds URLs only", spec)
	}
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", spec, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("repository %s: file:// URLs name local directories (file:///path), not host %q", spec, u.Host)
		}
		return Dir(u.Path), nil
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("repository %s: no host", spec)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("repository %s: a repository URL has no query or fragment", spec)
		}
		return NewHTTP(u), nil
	}
	return nil, fmt.Errorf("repository %s: scheme %q: expected a directory, file://, http:// or https://", spec, u.Scheme)
}

// Dir is a repository in a local directory: nothing is downloaded.
type Dir string

func (d Dir) URL() string { return string(d) }

func (d Dir) LocalPath(rel string) string { return filepath.Join(string(d), filepath.FromSlash(rel)) }

func (d Dir) Open(ctx context.Context, rel string, offset int64) (io.ReadCloser, int64, error) {
	f, err := os.Open(d.LocalPath(rel))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, permanent(fmt.Errorf("%s: %w", rel, ErrNotFound))
	}
	if err != nil {
		return nil, 0, permanent(err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, permanent(err)
	}
	return f, offset, nil
}

// HTTP is a repository on an HTTP(S) server. Redirects are followed only
// within the same scheme and host: a repository that sends its clients to
// another host is refused, never followed silently.
type HTTP struct {
	Base   *url.URL
	Client *http.Client
}

// NewHTTP returns the Source for base, with Keel's client: connect and
// header timeouts (a body may take as long as it takes), redirects kept
// on base's host.
func NewHTTP(base *url.URL) *HTTP {
	b := *base
	b.Path = strings.TrimSuffix(b.Path, "/") + "/"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 16
	h := &HTTP{Base: &b}
	h.Client = &http.Client{Transport: tr, CheckRedirect: h.checkRedirect}
	return h
}

func (h *HTTP) URL() string { return strings.TrimSuffix(h.Base.String(), "/") }

func (h *HTTP) LocalPath(string) string { return "" }

// RedirectError is a redirect to another host (or scheme), refused.
type RedirectError struct{ From, To string }

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s redirects to %s, another host: refused (Keel follows redirects only within a repository's host; pass that URL as --repo if you trust it)", e.From, e.To)
}

func (h *HTTP) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return permanent(fmt.Errorf("%s: more than 10 redirects", via[0].URL))
	}
	if req.URL.Scheme != h.Base.Scheme || req.URL.Host != h.Base.Host {
		return permanent(&RedirectError{From: via[0].URL.String(), To: req.URL.String()})
	}
	return nil
}

func (h *HTTP) Open(ctx context.Context, rel string, offset int64) (io.ReadCloser, int64, error) {
	u := h.Base.ResolveReference(&url.URL{Path: rel})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, permanent(err)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		var pe *permanentError
		if errors.As(err, &pe) {
			return nil, 0, pe // the refused redirect, without url.Error's wrapping
		}
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, 0, nil
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		var first int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &first); err != nil || first != offset {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("GET %s: 206 with Content-Range %q, asked for bytes %d-", u, resp.Header.Get("Content-Range"), offset)
		}
		return resp.Body, offset, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial file is as long as the file or longer: start again.
		resp.Body.Close()
		return h.Open(ctx, rel, 0)
	}
	resp.Body.Close()
	err = fmt.Errorf("GET %s: %s", u, resp.Status)
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, 0, permanent(fmt.Errorf("%w: %w", err, ErrNotFound))
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
		return nil, 0, err
	}
	return nil, 0, permanent(err)
}

// Mirrors is one repository served from several places: each request
// goes to the mirror that last answered, then the others in order.
type Mirrors struct {
	List []Source
	cur  atomic.Int32
}

func (m *Mirrors) URL() string { return m.List[0].URL() }

func (m *Mirrors) LocalPath(rel string) string { return "" }

func (m *Mirrors) Open(ctx context.Context, rel string, offset int64) (io.ReadCloser, int64, error) {
	first := int(m.cur.Load())
	var errs []string
	allNotFound := true
	for i := range m.List {
		k := (first + i) % len(m.List)
		r, start, err := m.List[k].Open(ctx, rel, offset)
		if err == nil {
			m.cur.Store(int32(k))
			return r, start, nil
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		allNotFound = allNotFound && errors.Is(err, ErrNotFound)
		errs = append(errs, err.Error())
	}
	err := fmt.Errorf("every mirror failed: %s", strings.Join(errs, "; "))
	if allNotFound {
		return nil, 0, permanent(fmt.Errorf("%w: %w", err, ErrNotFound))
	}
	return nil, 0, err
}
