package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testCache(t *testing.T) *Cache {
	return &Cache{Dir: t.TempDir(), Backoff: time.Millisecond}
}

// payload is a file large enough to be cut mid-way.
var payload = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	return b
}()

// dropping serves payload, but the first drops connections after cut
// bytes: the client must resume from there with a Range request.
func dropping(t *testing.T, drops int, cut int) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	var reqs, ranged atomic.Int32
	left := atomic.Int32{}
	left.Store(int32(drops))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		if left.Add(-1) >= 0 {
			w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
			w.WriteHeader(http.StatusOK)
			w.Write(payload[:cut])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "f.rpm", time.Unix(0, 0), strings.NewReader(string(payload)))
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs, &ranged
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	srv, reqs, ranged := dropping(t, 2, 300000)
	src, err := Open(srv.URL + "/repo")
	if err != nil {
		t.Fatal(err)
	}
	c := testCache(t)
	p, err := c.Package(context.Background(), src, "Packages/f.rpm", sum(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if sum(got) != sum(payload) {
		t.Fatal("cached file differs")
	}
	if reqs.Load() != 3 || ranged.Load() != 2 {
		t.Errorf("%d requests, %d with Range; want 3 and 2 (two resumes)", reqs.Load(), ranged.Load())
	}
	if m, _ := filepath.Glob(filepath.Join(c.Dir, "partial", "*")); len(m) != 0 {
		t.Errorf("partial files left: %v", m)
	}
	// A second fetch is a cache hit: no request.
	if _, err := c.Package(context.Background(), src, "Packages/f.rpm", sum(payload), int64(len(payload))); err != nil || reqs.Load() != 3 {
		t.Errorf("second fetch: %v, %d requests", err, reqs.Load())
	}
}

// TestBadInput: each failure is one line naming the way out, and leaves
// nothing under the checksum in the cache.
func TestBadInput(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/repo/away.rpm", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/away.rpm", http.StatusFound)
	})
	mux.HandleFunc("/repo/here.rpm", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/repo/real.rpm", http.StatusFound)
	})
	mux.HandleFunc("/repo/real.rpm", func(w http.ResponseWriter, r *http.Request) { w.Write(payload) })
	mux.HandleFunc("/repo/wrong.rpm", func(w http.ResponseWriter, r *http.Request) { w.Write(payload[:1000]) })
	var fails atomic.Int32
	mux.HandleFunc("/repo/flaky.rpm", func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(payload)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name, repo, file string
		want             []string // "" want: success
	}{
		{"redirect within the host", srv.URL + "/repo", "here.rpm", nil},
		{"retried 503", srv.URL + "/repo", "flaky.rpm", nil},
		{"redirect to another host", srv.URL + "/repo", "away.rpm", []string{"redirects to " + other.URL, "another host: refused", "--repo"}},
		{"not found", srv.URL + "/repo", "none.rpm", []string{"404", "none.rpm"}},
		{"checksum mismatch", srv.URL + "/repo", "wrong.rpm", []string{"sha256 " + sum(payload[:1000]), "metadata says " + sum(payload), "nothing was kept"}},
		{"server does not answer", dead, "x.rpm", []string{"connection refused", "gave up after 4 attempts", "check the URL"}},
		{"mirrors: the dead one skipped", dead + "," + srv.URL + "/repo", "real.rpm", nil},
		{"mirrors: all dead", dead + "," + dead + "/b", "x.rpm", []string{"every mirror failed", "gave up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Open(tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			c := testCache(t)
			p, err := c.Package(context.Background(), src, tc.file, sum(payload), int64(len(payload)))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(p); sum(b) != sum(payload) {
					t.Error("wrong content")
				}
				return
			}
			if err == nil {
				t.Fatal("fetched")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %q", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q", w)
				}
			}
			if _, err := os.Stat(p); err == nil {
				t.Error("a file is cached under the checksum")
			}
			if m, _ := filepath.Glob(filepath.Join(c.Dir, "partial", "*")); tc.name == "checksum mismatch" && len(m) != 0 {
				t.Errorf("partial files left: %v", m)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"out/repo", ""},
		{"/a,b/repo", ""}, // a directory is never split
		{"file:///srv/repo", ""},
		{"https://example.invalid/repo/", ""},
		{"https://a.invalid/r,https://b.invalid/r", ""},
		{"ftp://example.invalid/repo", "scheme \"ftp\""},
		{"file://host/repo", "not host"},
		{"https://a.invalid/r,/local", "URLs only"},
		{"https:///repo", "no host"},
		{"https://a.invalid/r?x=1", "no query"},
	} {
		_, err := Open(tc.spec)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want %q", tc.spec, err, tc.want)
		}
	}
	src, _ := Open("file:///srv/repo")
	if src.LocalPath("repodata/repomd.xml") != "/srv/repo/repodata/repomd.xml" {
		t.Errorf("file:// path %q", src.LocalPath("repodata/repomd.xml"))
	}
	m, _ := Open("https://a.invalid/r/,https://b.invalid/r")
	if m.URL() != "https://a.invalid/r" {
		t.Errorf("mirrors URL %q", m.URL())
	}
}

// TestMetadataCache: metadata is kept by checksum; a damaged cached copy
// is fetched again.
func TestMetadataCache(t *testing.T) {
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		w.Write(payload)
	}))
	defer srv.Close()
	src, _ := Open(srv.URL)
	c := testCache(t)
	for i := 0; i < 2; i++ {
		b, err := c.Metadata(context.Background(), src, "repodata/p.xml.zst", sum(payload), int64(len(payload)))
		if err != nil || sum(b) != sum(payload) {
			t.Fatal(err)
		}
	}
	if reqs.Load() != 1 {
		t.Errorf("%d requests, want 1", reqs.Load())
	}
	os.WriteFile(filepath.Join(c.Dir, "metadata", sum(payload)), []byte("damaged"), 0o644)
	if _, err := c.Metadata(context.Background(), src, "repodata/p.xml.zst", sum(payload), int64(len(payload))); err != nil || reqs.Load() != 2 {
		t.Errorf("damaged copy: %v, %d requests", err, reqs.Load())
	}
	_, err := c.Get(context.Background(), src, "repodata/repomd.xml", 10)
	if err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Errorf("limit: %v", err)
	}
	if !errors.Is(func() error {
		_, err := c.Get(context.Background(), Dir(t.TempDir()), "repodata/repomd.xml", 10)
		return err
	}(), ErrNotFound) {
		t.Error("local missing file is not ErrNotFound")
	}
}
