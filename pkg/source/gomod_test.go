package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/keel-linux/keel/internal/testenv"
)

// goProxy is a loopback Go module proxy serving modules built from file maps.
type goProxy struct {
	files map[string][]byte // URL path -> body
	hits  []string
}

func (p *goProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hits = append(p.hits, r.URL.Path)
	if b, ok := p.files[r.URL.Path]; ok {
		w.Write(b)
		return
	}
	http.NotFound(w, r)
}

// add publishes module mv with files; it returns the go.sum lines for it.
func (p *goProxy) add(t *testing.T, mv module.Version, files map[string]string) (zipSum, modSum string) {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var zb bytes.Buffer
	if err := modzip.CreateFromDir(&zb, mv, dir); err != nil {
		t.Fatal(err)
	}
	zf := filepath.Join(t.TempDir(), "m.zip")
	os.WriteFile(zf, zb.Bytes(), 0o644)
	zipSum, err := dirhash.HashZip(zf, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	modSum, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(files["go.mod"])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	base := "/" + mv.Path + "/@v/" + mv.Version
	p.files[base+".info"] = []byte(`{"Version":"` + mv.Version + `","Time":"2025-01-01T00:00:00Z"}`)
	p.files[base+".mod"] = []byte(files["go.mod"])
	p.files[base+".zip"] = zb.Bytes()
	p.files["/"+mv.Path+"/@v/list"] = append(p.files["/"+mv.Path+"/@v/list"], mv.Version+"\n"...)
	return zipSum, modSum
}

// goFixture is a proxy with example.com/hello v1.0.0, which imports
// example.com/dep v1.2.0; goSum lets a case corrupt hello's go.sum.
func goFixture(t *testing.T, badDepSum bool) (*goProxy, string) {
	t.Helper()
	testenv.RequireTool(t, "go")
	p := &goProxy{files: map[string][]byte{}}
	dep := module.Version{Path: "example.com/dep", Version: "v1.2.0"}
	depZip, depMod := p.add(t, dep, map[string]string{
		"go.mod":  "module example.com/dep\n\ngo 1.22\n",
		"dep.go":  "package dep\n\nfunc Hello() string { return \"hello\" }\n",
		"LICENSE": "MIT\n",
	})
	if badDepSum {
		depZip = "h1:" + strings.Repeat("A", 43) + "="
	}
	p.add(t, module.Version{Path: "example.com/hello", Version: "v1.0.0"}, map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n\nrequire example.com/dep v1.2.0\n",
		"go.sum":  "example.com/dep v1.2.0 " + depZip + "\nexample.com/dep v1.2.0/go.mod " + depMod + "\n",
		"main.go": "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Hello()) }\n",
	})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// goEnvFor points the go command at the loopback proxy and a private module
// cache (made writable again at the end so the test can remove it).
func goEnvFor(t *testing.T, proxy string) {
	cache := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("GOCACHE", t.TempDir())
}

func newGoManifest(t *testing.T, modver string) *Manifest {
	t.Helper()
	m, err := LoadManifest(t.TempDir(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetGoModule(modver); err != nil {
		t.Fatal(err)
	}
	return m
}

func storeEntries(t *testing.T, store string) []string {
	ents, _ := os.ReadDir(filepath.Join(store, "sha256"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestGoVendorPinAndRefetch(t *testing.T) {
	_, url := goFixture(t, false)
	goEnvFor(t, url)
	ctx := context.Background()
	m := newGoManifest(t, "example.com/hello@v1.0.0")
	f := &Fetcher{Store: t.TempDir()}
	changes, err := f.PinGo(ctx, "hello", m, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("changes %+v, want the zip and the vendor tarball", changes)
	}
	got := m.GoSums["hello-1.0.0-vendor.tar.gz"]
	if len(got) != 1 || !strings.HasPrefix(got[0], "example.com/dep v1.2.0 h1:") {
		t.Fatalf("vendor module list %q, want example.com/dep v1.2.0", got)
	}
	// The saved manifest loads again (validation accepts what PinGo writes).
	m2, err := LoadManifest(filepath.Dir(m.Path()), "hello")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing changed: the same bytes, no pin change.
	if again, err := f.PinGo(ctx, "hello", m2, true); err != nil || len(again) != 0 {
		t.Fatalf("second vendor run: %+v, %v; want no change", again, err)
	}
	// A fresh machine: empty store and empty Go module cache, fetch from the proxy.
	goEnvFor(t, url)
	fresh := &Fetcher{Store: t.TempDir()}
	for _, file := range []string{"hello-1.0.0.zip", "hello-1.0.0-vendor.tar.gz"} {
		p, err := fresh.Resolve(ctx, "hello", m2, file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if h, _ := Hash(p); h != m2.Signatures[file] {
			t.Fatalf("%s: sha256 %s, pinned %s", file, h, m2.Signatures[file])
		}
	}
	// Offline, from the (now warm) Go module cache only.
	offline := &Fetcher{Store: t.TempDir(), Offline: true}
	if _, err := offline.Resolve(ctx, "hello", m2, "hello-1.0.0-vendor.tar.gz"); err != nil {
		t.Fatalf("offline with a warm module cache: %v", err)
	}
}

func TestGoVendorBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, want string
		setup      func(t *testing.T, url string) (*Manifest, string) // the manifest and file to resolve
		pin        bool
		badDepSum  bool
	}{
		{name: "module-not-on-proxy", want: "example.com/nothere@v1.9.9", pin: true,
			setup: func(t *testing.T, url string) (*Manifest, string) {
				return newGoManifest(t, "example.com/nothere@v1.9.9"), ""
			}},
		{name: "go.sum-mismatch", want: "checksum mismatch", pin: true, badDepSum: true,
			setup: func(t *testing.T, url string) (*Manifest, string) {
				return newGoManifest(t, "example.com/hello@v1.0.0"), ""
			}},
		{name: "vendor-hash-differs", want: "pinned " + strings.Repeat("0", 64),
			setup: func(t *testing.T, url string) (*Manifest, string) {
				m := pinnedGo(t)
				m.Signatures["hello-1.0.0-vendor.tar.gz"] = strings.Repeat("0", 64)
				return m, "hello-1.0.0-vendor.tar.gz"
			}},
		{name: "zip-h1-differs", want: "pinned \"example.com/hello v1.0.0 h1:AAAA",
			setup: func(t *testing.T, url string) (*Manifest, string) {
				m := pinnedGo(t)
				m.GoSums["hello-1.0.0.zip"] = []string{"example.com/hello v1.0.0 h1:AAAA="}
				return m, "hello-1.0.0.zip"
			}},
		{name: "module-list-differs", want: "-example.com/old v1.0.0",
			setup: func(t *testing.T, url string) (*Manifest, string) {
				m := pinnedGo(t)
				f := "hello-1.0.0-vendor.tar.gz"
				m.GoSums[f] = append(m.GoSums[f], "example.com/old v1.0.0 h1:AAAA=")
				return m, f
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := goFixture(t, tc.badDepSum)
			goEnvFor(t, url)
			m, file := tc.setup(t, url)
			goEnvFor(t, url) // the fresh machine the failure happens on
			f := &Fetcher{Store: t.TempDir()}
			var err error
			if tc.pin {
				_, err = f.PinGo(ctx, "hello", m, false)
			} else {
				_, err = f.Resolve(ctx, "hello", m, file)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hello") {
				t.Fatalf("got %v, want an error naming the package and %q", err, tc.want)
			}
			t.Log(err)
			var ge *GoError
			var me *MismatchError
			if !errors.As(err, &ge) && !errors.As(err, &me) {
				t.Fatalf("%T: want a GoError or MismatchError", err)
			}
			if !tc.pin {
				for _, e := range storeEntries(t, f.Store) {
					if m.Signatures[file] == e {
						t.Fatalf("%s cached despite the failure", file)
					}
				}
			}
			// Only the verified module zip may stay; no temporary, no tarball.
			if ents := storeEntries(t, f.Store); tc.pin && len(ents) > 0 && (len(ents) > 1 || ents[0] != m.Signatures["hello-1.0.0.zip"]) {
				t.Fatalf("store holds %v after a failed vendor", ents)
			}
			if left, _ := filepath.Glob(filepath.Join(f.Store, ".vendor-*")); len(left) > 0 {
				t.Fatalf("temporary vendor trees left: %v", left)
			}
			if _, err := os.Stat(m.Path()); tc.pin && err == nil {
				t.Fatalf("manifest written despite the failure")
			}
		})
	}
}

// pinnedGo is a correctly pinned manifest for example.com/hello (pinned into
// a throwaway store).
func pinnedGo(t *testing.T) *Manifest {
	t.Helper()
	m := newGoManifest(t, "example.com/hello@v1.0.0")
	if _, err := (&Fetcher{Store: t.TempDir()}).PinGo(context.Background(), "hello", m, true); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVendorSourceNames(t *testing.T) {
	for mv, want := range map[string]string{
		"github.com/containerd/containerd/v2@v2.4.2":    "containerd-2.4.2.zip",
		"github.com/containernetworking/plugins@v1.7.1": "plugins-1.7.1.zip",
	} {
		p, v, _ := strings.Cut(mv, "@")
		if z, _ := VendorSources(module.Version{Path: p, Version: v}); z != want {
			t.Errorf("%s: %s, want %s", mv, z, want)
		}
	}
}

func FuzzParseGoSumLine(f *testing.F) {
	f.Add("github.com/a/b v1.2.3 h1:abc=")
	f.Add("github.com/a/b v1.2.3/go.mod h1:abc=")
	f.Fuzz(func(t *testing.T, line string) {
		if g, err := ParseGoSumLine(line); err == nil {
			if _, err := ParseGoSumLine(g.String()); err != nil {
				t.Fatalf("%q parsed but its String %q does not: %v", line, g, err)
			}
		}
	})
}

// TestGoVendorLocal pins the dependencies of a Go program kept beside its
// spec (local: origin with go.mod and go.sum), as keel-init is, and
// recreates the tarball offline from a warm module cache.
func TestGoVendorLocal(t *testing.T) {
	p, url := goFixture(t, false)
	goEnvFor(t, url)
	ctx := context.Background()
	specDir := t.TempDir()
	src := filepath.Join(specDir, "src")
	os.MkdirAll(filepath.Join(src, "vendor", "junk"), 0o755)
	os.WriteFile(filepath.Join(src, "vendor", "junk", "x.go"), []byte("package junk\n"), 0o644) // a developer's stale vendor/: ignored
	for n, c := range map[string]string{
		"go.mod":  "module example.local/tool\n\ngo 1.22\n\nrequire example.com/dep v1.2.0\n",
		"main.go": "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Hello()) }\n",
	} {
		os.WriteFile(filepath.Join(src, n), []byte(c), 0o644)
	}
	// go.sum as `go mod tidy` writes it, taken from the published module.
	zr := modFile(t, p, "example.com/hello", "v1.0.0", "go.sum")
	os.WriteFile(filepath.Join(src, "go.sum"), zr, 0o644)
	os.WriteFile(ManifestPath(specDir, "tool"), []byte(`{"Signatures":{},"Origins":{"tool-1.0.tar.gz":"local:src"}}`), 0o644)
	m, err := LoadManifest(specDir, "tool")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetGoLocal(); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Store: t.TempDir()}
	changes, err := f.PinGo(ctx, "tool", m, false)
	if err != nil {
		t.Fatal(err)
	}
	const vf = "tool-1.0-vendor.tar.gz"
	if len(changes) != 1 || changes[0].File != vf || len(m.GoSums[vf]) != 1 || !strings.HasPrefix(m.GoSums[vf][0], "example.com/dep v1.2.0 h1:") {
		t.Fatalf("changes %+v, GoSums %v; want one vendor tarball holding example.com/dep", changes, m.GoSums)
	}
	m2, err := LoadManifest(specDir, "tool")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.PinGo(ctx, "tool", m2, true); err != nil || len(again) != 0 {
		t.Fatalf("second run: %+v, %v; want no change", again, err)
	}
	offline := &Fetcher{Store: t.TempDir(), Offline: true}
	if _, err := offline.Resolve(ctx, "tool", m2, vf); err != nil {
		t.Fatalf("offline with a warm module cache: %v", err)
	}
	// A dependency added to go.mod without re-pinning is refused with the diff.
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.local/tool\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	_, err = (&Fetcher{Store: t.TempDir(), Offline: true}).Resolve(ctx, "tool", m2, vf)
	if err == nil || !strings.Contains(err.Error(), "tool") {
		t.Fatalf("got %v, want a refusal naming the package", err)
	}
	t.Log(err)
	// No go.mod at all: named.
	os.Remove(filepath.Join(src, "go.mod"))
	if err := m2.SetGoLocal(); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("SetGoLocal without go.mod: %v", err)
	}
}

// modFile reads one file of a module the fixture proxy publishes.
func modFile(t *testing.T, p *goProxy, path, version, name string) []byte {
	t.Helper()
	zf := filepath.Join(t.TempDir(), "m.zip")
	os.WriteFile(zf, p.files["/"+path+"/@v/"+version+".zip"], 0o644)
	dir := t.TempDir()
	if err := modzip.Unzip(dir, module.Version{Path: path, Version: version}, zf); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
