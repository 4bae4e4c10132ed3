package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keel-linux/keel/pkg/logctx"
)

// Server timeouts. A response has no overall deadline (a 2 GiB package to
// a slow client may take an hour); instead every write must make progress
// within writeTimeout, and a connection idle between requests is closed.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 60 * time.Second
	// writeChunk is what one write deadline covers: at 256 KiB per 30 s a
	// client must read at least ~8.5 KiB/s.
	writeChunk = 256 << 10
)

// writeTimeout is a variable for the tests' slow clients.
var writeTimeout = 30 * time.Second

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
// nothing that resolves outside dir: symlinks that leave it fail (os.Root)
// and a hard-linked file is served only when all its links are inside
// dir (publish links metadata between generations; a link to /etc/shadow
// planted in the directory is refused).
func Handler(dir string) (http.Handler, error) {
	return handler(dir, nil)
}

func handler(dir string, log *slog.Logger) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	links := &linkIndex{dir: dir}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		if err != nil || !fi.Mode().IsRegular() || !links.inside(fi) {
			http.NotFound(w, r)
			return
		}
		ct := "application/octet-stream"
		if t, ok := contentTypes[path.Ext(name)]; ok {
			ct = t
		} else if strings.HasPrefix(path.Base(name), "RPM-GPG-KEY") {
			ct = "application/pgp-keys"
		}
		etag := fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
		w.Header().Set("Content-Type", ct)
		w.Header().Set("ETag", etag)
		if path.Base(name) == "repomd.xml" || path.Base(name) == "repomd.xml.asc" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if !checkRange(w, r, etag, fi) {
			return
		}
		http.ServeContent(w, r, name, fi.ModTime(), f)
	})
	if log == nil {
		return h, nil
	}
	return logRequests(h, log), nil
}

// checkRange answers 416 with "Content-Range: bytes */SIZE" when no range
// of the request can be satisfied (RFC 9110 15.5.17) and drops the ranges
// that cannot, before ServeContent sees them: it answers "bytes=-0" with a
// 206 and an inverted range ("bytes 10-9/10"), and a bad range without
// Content-Range. A Range that If-Range voids is left to ServeContent.
func checkRange(w http.ResponseWriter, r *http.Request, etag string, fi fs.FileInfo) bool {
	h := r.Header.Get("Range")
	if h == "" {
		return true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		t, err := http.ParseTime(ir)
		if err != nil || !t.Equal(fi.ModTime().Truncate(time.Second)) {
			return true // the full file, as ServeContent will send
		}
	}
	size := fi.Size()
	specs, ok := strings.CutPrefix(h, "bytes=")
	var keep []string
	if ok {
		for _, spec := range strings.Split(specs, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			first, last, ok := strings.Cut(spec, "-")
			if !ok {
				keep = nil
				break
			}
			if first == "" { // suffix: the last N bytes
				n, err := strconv.ParseInt(last, 10, 64)
				if err != nil || n < 0 {
					keep = nil
					break
				}
				if n > 0 && size > 0 {
					keep = append(keep, spec)
				}
				continue
			}
			a, err := strconv.ParseInt(first, 10, 64)
			if err != nil || a < 0 {
				keep = nil
				break
			}
			if last != "" {
				if b, err := strconv.ParseInt(last, 10, 64); err != nil || b < a {
					keep = nil
					break
				}
			}
			if a < size {
				keep = append(keep, spec)
			}
		}
	}
	if len(keep) == 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		http.Error(w, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
		return false
	}
	r.Header.Set("Range", "bytes="+strings.Join(keep, ","))
	return true
}

// linkIndex knows, from a walk of the served tree, how many links each
// multiply-linked file has inside it. A file whose link count is higher
// has a name outside the tree and is not served. The walk is redone when
// a file is not known (a publish added links), at most once a second.
type linkIndex struct {
	dir    string
	mu     sync.Mutex
	walked time.Time
	counts map[fileID]uint64
}

type fileID struct{ dev, ino uint64 }

func (l *linkIndex) inside(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if st.Nlink <= 1 {
		return true
	}
	id := fileID{uint64(st.Dev), st.Ino}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[id] >= uint64(st.Nlink) {
		return true
	}
	if time.Since(l.walked) < time.Second {
		return false
	}
	l.walked = time.Now()
	l.counts = map[fileID]uint64{}
	// Symlinks are not followed: only names inside the tree count.
	filepath.WalkDir(l.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if i, err := d.Info(); err == nil {
			if s, ok := i.Sys().(*syscall.Stat_t); ok && s.Nlink > 1 {
				l.counts[fileID{uint64(s.Dev), s.Ino}]++
			}
		}
		return nil
	})
	return l.counts[id] >= uint64(st.Nlink)
}

// logRequests logs each request once it is answered (method, path,
// status, body bytes, duration) and gives its writes their deadlines.
func logRequests(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		pw := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), status: http.StatusOK}
		// A deadline left by the connection's previous response must not
		// cut this one's headers, nor the flush after the handler returns.
		pw.rc.SetWriteDeadline(start.Add(writeTimeout))
		h.ServeHTTP(pw, r)
		pw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", pw.status),
			slog.Int64("bytes", pw.bytes), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
	})
}

// progressWriter gives every write its own deadline (writeTimeout per
// writeChunk) instead of the whole response one, and counts what it sends.
type progressWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	status int
	bytes  int64
}

func (w *progressWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		c := min(len(p), writeChunk)
		w.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		w.bytes += int64(m)
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// ReadFrom keeps net/http's sendfile path (a LimitedReader over the
// *os.File ServeContent passes) one chunk, and one deadline, at a time.
func (w *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	lr, limited := src.(*io.LimitedReader)
	inner := src
	if limited {
		inner = lr.R
	}
	var total int64
	for {
		chunk := &io.LimitedReader{R: inner, N: writeChunk}
		if limited {
			chunk.N = min(chunk.N, lr.N)
			if chunk.N <= 0 {
				return total, nil
			}
		}
		w.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		n, err := rf.ReadFrom(chunk)
		total += n
		w.bytes += n
		if limited {
			lr.N -= n
		}
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Serve serves the repository until ctx ends.
func Serve(ctx context.Context, opt ServeOptions) error {
	// One record per request, to the context's logger (logctx).
	log := logctx.FromContext(ctx)
	h, err := handler(opt.Dir, log)
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
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
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
