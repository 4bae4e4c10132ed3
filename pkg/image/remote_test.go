package image

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/repo/remote"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

// serveKeel serves dir as keel repo serve does, on loopback.
func serveKeel(t *testing.T, dir string) string {
	t.Helper()
	h, err := repo.Handler(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// servePython serves dir with Python's http.server on loopback: a server
// that is not Keel's.
func servePython(t *testing.T, dir string) string {
	t.Helper()
	testenv.RequireTool(t, "python3")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/repodata/repomd.xml")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if i == 200 {
			t.Fatalf("python3 -m http.server did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dockerArchive(t *testing.T, res *Result) []byte {
	t.Helper()
	for _, o := range res.Manifest.Outputs {
		if o.Format == "docker-archive" {
			b, err := os.ReadFile(filepath.Join(res.Dir, o.Path))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no docker-archive output")
	return nil
}

func versionOf(m *Manifest, name string) string {
	for _, p := range m.Packages {
		if p.Name == name {
			return p.Version
		}
	}
	return ""
}

// TestRemoteKeelRepo composes from a Keel repository served by keel repo
// serve: the same bytes as from its directory, each package's origin
// recorded; then the repository gains a newer package, and the next run
// (same cache) sees it: repomd.xml is re-read, the cache keyed by checksum.
func TestRemoteKeelRepo(t *testing.T) {
	dir := genRepo(t, baseSpecs)
	url := serveKeel(t, dir)
	cache := &remote.Cache{Dir: t.TempDir()}
	build := func(r string) *Result {
		t.Helper()
		res, err := Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{r}, Out: t.TempDir(),
			SourceDateEpoch: sde, Trusted: testKeyring(), Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	local, http1 := build(dir), build(url)
	if !bytes.Equal(dockerArchive(t, local), dockerArchive(t, http1)) {
		t.Error("composed over HTTP, the image differs from the local directory's")
	}
	for _, p := range http1.Manifest.Packages {
		if !strings.HasPrefix(p.Origin, url+"/Packages/") || !strings.HasSuffix(p.Origin, ".rpm") {
			t.Errorf("%s: origin %q", p.Name, p.Origin)
		}
	}
	for _, p := range local.Manifest.Packages {
		if p.Origin != "" {
			t.Errorf("local %s: origin %q", p.Name, p.Origin)
		}
	}
	newer := baseSpecs[1]
	newer.Version = "2.1"
	p, err := resolvetest.WriteRPM(t.TempDir(), newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Publish(context.Background(), repo.Options{Dir: dir, Packages: []string{p}, Key: testKey(), SourceDateEpoch: sde}); err != nil {
		t.Fatal(err)
	}
	if got := versionOf(build(url).Manifest, "app"); got != "2.1" {
		t.Errorf("after the repository changed: app %s, want 2.1", got)
	}
}

// TestCreaterepoRepo composes from a repository indexed by the host's
// createrepo_c (its repomd.xml signed detached, as a distribution does
// with gpg) and served by Python's http.server.
func TestCreaterepoRepo(t *testing.T) {
	testenv.RequireTool(t, "createrepo_c")
	dir := genRepo(t, baseSpecs) // signed packages
	os.RemoveAll(filepath.Join(dir, "repodata"))
	os.RemoveAll(filepath.Join(dir, ".keel"))
	if out, err := exec.Command("createrepo_c", "--quiet", dir).CombinedOutput(); err != nil {
		t.Fatalf("createrepo_c: %v\n%s", err, out)
	}
	md, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	asc, err := testKey().SignArmored(bytes.NewReader(md), time.Unix(sde, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml.asc"), asc, 0o644); err != nil {
		t.Fatal(err)
	}
	url := servePython(t, dir)
	cache := &remote.Cache{Dir: t.TempDir()}
	res, err := Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{url + "/"}, Out: t.TempDir(),
		SourceDateEpoch: sde, Trusted: testKeyring(), Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Manifest.PackageNames(), " "); got != "app base libx" {
		t.Errorf("packages %q", got)
	}
	// Bad input over the wire: a tampered package is refused by its
	// checksum, and nothing lands in the cache or the output.
	m, _ := filepath.Glob(filepath.Join(dir, "Packages", "b", "base-*.rpm"))
	if len(m) == 0 {
		m, _ = filepath.Glob(filepath.Join(dir, "Packages", "*", "base-*.rpm"))
	}
	if len(m) != 1 {
		t.Fatalf("base package: %v", m)
	}
	data, _ := os.ReadFile(m[0])
	data[len(data)-1] ^= 1
	os.WriteFile(m[0], data, 0o644)
	cache2 := &remote.Cache{Dir: t.TempDir()}
	out := t.TempDir()
	_, err = Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{url}, Out: out,
		SourceDateEpoch: sde, Trusted: testKeyring(), Cache: cache2})
	if err == nil || !strings.Contains(err.Error(), "signed metadata names") || strings.Contains(err.Error(), "\n") {
		t.Errorf("tampered package: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(cache2.Dir, "packages", "*")); len(m) != 2 {
		t.Errorf("cache holds %d packages, want the 2 good ones: %v", len(m), m)
	}
	if m, _ := os.ReadDir(out); len(m) != 0 {
		t.Errorf("output left: %v", m)
	}
}
