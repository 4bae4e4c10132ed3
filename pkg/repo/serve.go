package repo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// ServeOptions controls Serve.
type ServeOptions struct {
	Dir  string
	Addr string // default 127.0.0.1:8080; binding elsewhere is the caller's explicit choice
	// Ready, when set, receives the bound address once listening.
	Ready func(addr string)
}

var contentTypes = map[string]string{
	".rpm":    "application/x-rpm",
	".xml":    "application/xml",
	".asc":    "application/pgp-signature",
	".zst":    "application/zstd",
	".gz":     "application/gzip",
	".xz":     "application/x-xz",
	".repo":   "text/plain; charset=utf-8",
	".sqlite": "application/vnd.sqlite3",
}

// Handler serves the repository read-only: GET/HEAD, Range, conditional
// GET (ETag, If-Modified-Since), no directory listings, no dot files, and
// nothing that resolves outside dir.
func Handler(dir string) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		for _, c := range strings.Split(name, "/") {
			if strings.HasPrefix(c, ".") && c != "." {
				http.NotFound(w, r)
				return
			}
		}
		f, err := root.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		ct := "application/octet-stream"
		if t, ok := contentTypes[path.Ext(name)]; ok {
			ct = t
		} else if strings.HasPrefix(path.Base(name), "RPM-GPG-KEY") {
			ct = "application/pgp-keys"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
		if path.Base(name) == "repomd.xml" || path.Base(name) == "repomd.xml.asc" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, name, fi.ModTime(), f)
	}), nil
}

// Serve serves the repository until ctx ends.
func Serve(ctx context.Context, opt ServeOptions) error {
	h, err := Handler(opt.Dir)
	if err != nil {
		return err
	}
	addr := opt.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if opt.Ready != nil {
		opt.Ready(ln.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
