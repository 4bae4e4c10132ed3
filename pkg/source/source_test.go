package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func tgz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func writeManifest(t *testing.T, dir, name, body string) *Manifest {
	t.Helper()
	os.WriteFile(filepath.Join(dir, name+".signatures.json"), []byte(body), 0o644)
	m, err := LoadManifest(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolveOrder(t *testing.T) {
	payload := []byte("upstream tarball bytes")
	archive := tgz(t, map[string]string{"debian/patches/fix.patch": "--- a\n+++ b\n"})
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		switch r.URL.Path {
		case "/debian/pool/main/p/pkg/pkg_1.orig.tar.gz":
			w.Write(payload)
		case "/debian/pool/main/p/pkg/pkg_1.debian.tar.gz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	specDir, look, store := t.TempDir(), t.TempDir(), t.TempDir()
	m := writeManifest(t, specDir, "pkg", `{
  "Signatures": {
    "pkg_1.orig.tar.gz": "`+sum(payload)+`",
    "pkg_1.debian.tar.gz": "`+sum(archive)+`",
    "fix.patch": "`+sum([]byte("--- a\n+++ b\n"))+`"
  },
  "Origins": {
    "pkg_1.orig.tar.gz": "debian:pool/main/p/pkg/pkg_1.orig.tar.gz",
    "pkg_1.debian.tar.gz": "debian:pool/main/p/pkg/pkg_1.debian.tar.gz",
    "fix.patch": "member:pkg_1.debian.tar.gz#debian/patches/fix.patch"
  }
}`)
	f := &Fetcher{Lookaside: []string{look}, Mirrors: []string{srv.URL + "/nowhere", srv.URL + "/debian"}, Store: store}
	dest := t.TempDir()
	if err := f.Stage(context.Background(), "pkg", specDir, m, dest, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"pkg_1.orig.tar.gz", "pkg_1.debian.tar.gz", "fix.patch"} {
		b, err := os.ReadFile(filepath.Join(dest, file))
		if err != nil || sum(b) != m.Signatures[file] {
			t.Errorf("%s staged wrong: %v", file, err)
		}
	}
	// Second time: from the store, no network.
	hits = nil
	f.Offline = true
	if err := f.Stage(context.Background(), "pkg", specDir, m, t.TempDir(), time.Unix(0, 0)); err != nil || len(hits) != 0 {
		t.Fatalf("restage: %v, hits %v", err, hits)
	}
}

func TestMismatchIsFatalAndLeavesNothing(t *testing.T) {
	specDir, look, store := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(look, "a.tar.gz"), []byte("tampered"), 0o644)
	m := writeManifest(t, specDir, "a", `{"Signatures": {"a.tar.gz": "`+sum([]byte("original"))+`"}}`)
	f := &Fetcher{Lookaside: []string{look}, Store: store, Offline: true}
	_, err := f.Resolve(context.Background(), "a", m, "a.tar.gz")
	var me *MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "keel sources pin a") {
		t.Fatalf("want a MismatchError naming the way out, got %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(store, "sha256", "*"))
	if len(left) != 0 {
		t.Errorf("mismatched bytes left in the store: %v", left)
	}
}

func TestPinRefreshes(t *testing.T) {
	specDir, look := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(look, "a.tar.gz"), []byte("new upstream"), 0o644)
	m := writeManifest(t, specDir, "a", `{"Signatures": {"a.tar.gz": "`+sum([]byte("old"))+`"}, "Origins": {"a.tar.gz": "debian:pool/main/a/a/a.tar.gz"}}`)
	f := &Fetcher{Lookaside: []string{look}, Store: t.TempDir(), Offline: true}
	changes, err := f.Pin(context.Background(), "a", m, false)
	if err != nil || len(changes) != 1 || changes[0].New != sum([]byte("new upstream")) {
		t.Fatalf("pin: %v %+v", err, changes)
	}
	again, err := LoadManifest(specDir, "a")
	if err != nil || again.Signatures["a.tar.gz"] != sum([]byte("new upstream")) {
		t.Fatalf("manifest not rewritten: %v %+v", err, again)
	}
}

func TestPackLocalReproducible(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "sub", "x.sh"), []byte("#!/bin/sh\n"), 0o700)
	a, b := filepath.Join(t.TempDir(), "a.tar.gz"), filepath.Join(t.TempDir(), "b.tar.gz")
	mt := time.Unix(1700000000, 0)
	if err := PackLocal(dir, "p-1.0", a, mt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	os.Chtimes(filepath.Join(dir, "main.go"), time.Now(), time.Now())
	if err := PackLocal(dir, "p-1.0", b, mt); err != nil {
		t.Fatal(err)
	}
	ha, _ := Hash(a)
	hb, _ := Hash(b)
	if ha != hb {
		t.Error("two packs of the same tree differ")
	}
}

func TestManifestErrors(t *testing.T) {
	z := strings.Repeat("a", 64)
	for _, tc := range []struct{ body, want string }{
		{`{"Signatures": {"a": "xyz"}}`, "want 64 lowercase hex"},
		{`{"Type": "binary", "Signatures": {}}`, `Type "binary"`},
		{`{"Signatures": {}, "Origins": {"a": "ftp://x"}}`, "unknown origin"},
		{`{"Signatures": {}, "Origins": {"a": "debian:pool/x"}}`, "no pin"},
		{`{"Signatures": {}, "Origins": {"a": "local:../x"}}`, "beside the spec"},
		{"{\n\"Signatures\": {},\n\"Extra\": 1}", "unknown field"},
		{"{\n\"Signatures\": [1]\n}", "line 2"},
		{`{"Signatures":{"a.zip":"` + z + `"},"Origins":{"a.zip":"gomod:example.com/a"}}`, "want gomod:MODULE@VERSION"},
		{`{"Signatures":{"a.zip":"` + z + `"},"Origins":{"a.zip":"gomod:example.com/a@v1.0.0"}}`, "GoSums[\"a.zip\"]"},
		{`{"Signatures":{"a.zip":"` + z + `"},"Origins":{"a.zip":"gomod:example.com/a@v1.0.0"},"GoSums":{"a.zip":["example.com/a v1.0.0 md5:x"]}}`, "want a go.sum line"},
		{`{"Signatures":{"v.tgz":"` + z + `"},"Origins":{"v.tgz":"govendor:a.zip"}}`, "must have a gomod: or local: origin"},
		{`{"Signatures":{"a":"` + z + `"},"GoSums":{"a":["example.com/a v1.0.0 h1:x="]}}`, "only gomod: and govendor:"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.signatures.json"), []byte(tc.body), 0o644)
		_, err := LoadManifest(dir, "a")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "a.signatures.json") {
			t.Errorf("%s: got %v, want %q with the file name", tc.body, err, tc.want)
		}
	}
}

func FuzzLoadManifest(f *testing.F) {
	f.Add([]byte(`{"Type":"imported","Signatures":{"a":"` + strings.Repeat("0", 64) + `"},"Origins":{"a":"debian:pool/a"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x.signatures.json"), data, 0o644)
		_, _ = LoadManifest(dir, "x")
	})
}
