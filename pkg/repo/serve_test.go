package repo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/logctx"
)

// syncBuffer collects log output from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the JSON log records so far.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// serveLogged is serve with the request log captured as JSON.
func serveLogged(t *testing.T, dir string) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return serveCtx(t, logctx.WithLogger(context.Background(), slog.New(slog.NewJSONHandler(logs, nil))), dir), logs
}

func httpGet(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestServeRanges: unsatisfiable ranges answer 416 with "bytes */SIZE"
// (net/http alone answers bytes=-0 with 206 and "bytes 10-9/10").
func TestServeRanges(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.rpm"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := serveLogged(t, dir)
	resp, _ := httpGet(t, url+"/f.rpm")
	etag := resp.Header.Get("ETag")
	for _, tc := range []struct {
		rng, ifRange string
		status       int
		contentRange string
		body         string
	}{
		{"bytes=-0", "", 416, "bytes */10", ""},
		{"bytes=10-", "", 416, "bytes */10", ""},
		{"bytes=5-2", "", 416, "bytes */10", ""},
		{"bytes=x-y", "", 416, "bytes */10", ""},
		{"bytes=-0,10-20", "", 416, "bytes */10", ""},
		{"bytes=0-0,-0", "", 206, "bytes 0-0/10", "0"},
		{"bytes=-3", "", 206, "bytes 7-9/10", "789"},
		{"bytes=8-", "", 206, "bytes 8-9/10", "89"},
		{"bytes=-0", `"other"`, 200, "", "0123456789"},
		{"bytes=-0", etag, 416, "bytes */10", ""},
	} {
		hdr := []string{"Range", tc.rng}
		if tc.ifRange != "" {
			hdr = append(hdr, "If-Range", tc.ifRange)
		}
		resp, body := httpGet(t, url+"/f.rpm", hdr...)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.contentRange || (tc.body != "" && body != tc.body) {
			t.Errorf("Range %q If-Range %q: %d %q %q, want %d %q %q", tc.rng, tc.ifRange, resp.StatusCode,
				resp.Header.Get("Content-Range"), body, tc.status, tc.contentRange, tc.body)
		}
	}
}

// TestServeRefusesLinksOut: a hard link to a file outside the directory
// and a symlink that leaves it are not served; links that stay inside
// (publish links metadata between generations) are.
func TestServeRefusesLinksOut(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.rpm"), []byte("package"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ old, new string }{{secret, "hard.rpm"}, {filepath.Join(dir, "a.rpm"), "sub/a.rpm"}} {
		if err := os.Link(l.old, filepath.Join(dir, l.new)); err != nil {
			t.Skipf("no hard links here: %v", err) // t.TempDir()s share a file system
		}
	}
	for _, l := range []struct{ old, new string }{{secret, "sym.rpm"}, {"../a.rpm", "sub/sym.rpm"}, {"/etc/passwd", "passwd"}} {
		if err := os.Symlink(l.old, filepath.Join(dir, l.new)); err != nil {
			t.Fatal(err)
		}
	}
	url, _ := serveLogged(t, dir)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/a.rpm", 200},
		{"/sub/a.rpm", 200},   // hard link, both names inside
		{"/sub/sym.rpm", 200}, // symlink inside
		{"/hard.rpm", 404},    // hard link to a file outside
		{"/sym.rpm", 404},     // symlink out
		{"/passwd", 404},      // absolute symlink out
	} {
		resp, body := httpGet(t, url+tc.path)
		if resp.StatusCode != tc.status || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}

// TestServeSlowClient: the write deadline is per chunk, not per response:
// a client that reads steadily but takes several write timeouts in all
// gets the whole file; one that stops reading is cut off. Each request is
// logged with method, path, status, bytes and duration.
func TestServeSlowClient(t *testing.T) {
	old := writeTimeout
	writeTimeout = time.Second
	t.Cleanup(func() { writeTimeout = old })
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	if err := os.WriteFile(filepath.Join(dir, "big.rpm"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	url, logs := serveLogged(t, dir)
	addr := strings.TrimPrefix(url, "http://")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A small receive window, so the server's writes wait on the reader.
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		fmt.Fprintf(c, "GET /big.rpm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return c, bufio.NewReaderSize(c, 16<<10)
	}

	// Steady: 32 KiB every 10 ms, over 2.5 s in all (several write timeouts).
	c, br := dial()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got.Write(buf[:n])
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Log(err)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	if !bytes.Equal(got.Bytes(), data) {
		t.Errorf("slow client got %d of %d bytes", got.Len(), len(data))
	}

	// Stalled: reads the headers, then nothing; the server gives up.
	c, br = dial()
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	for len(logs.records(t)) < 2 {
		time.Sleep(50 * time.Millisecond)
	}
	c.Close()

	recs := logs.records(t)
	for i, want := range []int64{int64(len(data)), -1} {
		r := recs[i]
		if r["msg"] != "request" || r["method"] != "GET" || r["path"] != "/big.rpm" || r["status"] != float64(200) || r["duration"] == nil {
			t.Errorf("log record %v", r)
		}
		b, _ := r["bytes"].(float64)
		if (want >= 0 && int64(b) != want) || (want < 0 && int64(b) >= int64(len(data))) {
			t.Errorf("request %d logged %v bytes (file %d)", i, r["bytes"], len(data))
		}
	}
}

// FuzzServeRange: whatever Range header a client sends, the handler never
// panics, and answers either 416 with "bytes */SIZE", or a body whose
// Content-Range (on a 206) lies inside the file.
func FuzzServeRange(f *testing.F) {
	for _, s := range []string{"bytes=-0", "bytes=0-0,-0", "bytes=5-2", "bytes=0-", "bytes=-3", "bytes=9-", "bytes=10-", "bytes=,", "items=0-1", "bytes=1-2,4-5", "bytes=-99999999999999999999"} {
		f.Add(s)
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("0123456789"), 0o644); err != nil {
		f.Fatal(err)
	}
	h, err := handler(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rng string) {
		req := httptest.NewRequest("GET", "/f", nil)
		req.Header.Set("Range", rng)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		cr := rec.Header().Get("Content-Range")
		switch rec.Code {
		case http.StatusRequestedRangeNotSatisfiable:
			if cr != "bytes */10" {
				t.Fatalf("Range %q: 416 with Content-Range %q, want bytes */10", rng, cr)
			}
		case http.StatusPartialContent:
			var a, b, n int
			if cr == "" { // multipart: each part carries its own range
				return
			}
			if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &n); err != nil || a > b || b >= n || n != 10 {
				t.Fatalf("Range %q: 206 with Content-Range %q", rng, cr)
			}
		case http.StatusOK:
		default:
			t.Fatalf("Range %q: status %d", rng, rec.Code)
		}
	})
}
