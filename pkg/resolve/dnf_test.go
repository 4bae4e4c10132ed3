package resolve_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

func loadPool(t testing.TB, dir string) *resolve.Pool {
	t.Helper()
	_, mds, err := repodata.ReadRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := resolve.FromRepodata(mds, dir)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := resolve.NewPool(pkgs, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// dnfChoice runs dnf --installroot --assumeno and returns the name-version
// set of its transaction, or "" and the error text. Answers are cached in
// the shared test cache by repository metadata and request.
func dnfChoice(t *testing.T, repo string, req []string) ([]string, string) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(repo, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00%s", md, strings.Join(req, "\x00"))
	cache := filepath.Join(testenv.SharedCache(), "resolve-dnf", hex.EncodeToString(h.Sum(nil))[:32])
	out, err := os.ReadFile(cache)
	if err != nil {
		testenv.RequireTool(t, "dnf")
		tmp := t.TempDir()
		os.MkdirAll(filepath.Join(tmp, "empty"), 0o755)
		args := []string{"--installroot=" + filepath.Join(tmp, "root"), "--setopt=reposdir=" + filepath.Join(tmp, "empty"),
			"--repofrompath=t,file://" + repo, "--releasever=1", "--nogpgcheck", "--setopt=install_weak_deps=False",
			"--setopt=cachedir=" + filepath.Join(tmp, "cache"), "install", "--assumeno"}
		cmd := exec.Command("dnf", append(args, req...)...)
		cmd.Env = append(os.Environ(), "COLUMNS=250", "LC_ALL=C.UTF-8")
		out, _ = cmd.CombinedOutput()
		os.MkdirAll(filepath.Dir(cache), 0o755)
		os.WriteFile(cache, out, 0o644)
	}
	var set []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Installing") && strings.HasSuffix(l, ":"):
			in = true
		case l == "" || strings.HasPrefix(l, "Transaction Summary") || strings.HasPrefix(l, "====="):
			in = false
		case in && strings.HasPrefix(l, " "):
			f := strings.Fields(l)
			if len(f) >= 3 {
				set = append(set, f[0]+"-"+f[2])
			}
		}
	}
	if len(set) == 0 {
		return nil, string(out)
	}
	sort.Strings(set)
	return set, ""
}

func keelChoice(pool *resolve.Pool, req []string) ([]string, error) {
	res, err := pool.Resolve(resolve.Request{Install: req})
	if err != nil {
		return nil, err
	}
	var set []string
	for _, p := range res.Packages {
		set = append(set, p.Name+"-"+p.EVR.String())
	}
	sort.Strings(set)
	return set, nil
}

// TestAgainstDNF generates repositories and compares keel's closures
// with dnf's for the same requests.
func TestAgainstDNF(t *testing.T) {
	testenv.Short(t, "runs dnf (cached after the first run)")
	testenv.RequireTool(t, "dnf")
	for _, tc := range []struct {
		name string
		gen  func(int64, int) []resolvetest.Spec
		must bool // disagreements fail the test (not yet: see docs/images.md)
	}{
		{"simple", resolvetest.RandomSimple, false},
		{"rich", resolvetest.Random, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, d := compareDNF(t, tc.gen, tc.must)
			t.Logf("%s: %d requests, %d disagreements with dnf", tc.name, n, d)
		})
	}
}

func compareDNF(t *testing.T, gen func(int64, int) []resolvetest.Spec, must bool) (requests, disagree int) {
	report := t.Errorf
	if !must {
		report = t.Logf
	}
	for _, seed := range []int64{1, 2, 3} {
		repo := filepath.Join(t.TempDir(), "repo")
		if err := resolvetest.WriteRepo(repo, gen(seed, 150)); err != nil {
			t.Fatal(err)
		}
		pool := loadPool(t, repo)
		r := rand.New(rand.NewSource(seed))
		for i := 0; i < 12; i++ {
			req := []string{fmt.Sprintf("p%03d", r.Intn(60))}
			if i%3 == 2 {
				req = append(req, fmt.Sprintf("p%03d", r.Intn(150)))
			}
			requests++
			want, dnfErr := dnfChoice(t, repo, req)
			got, err := keelChoice(pool, req)
			switch {
			case want == nil && err != nil:
			case want == nil:
				disagree++
				report("seed %d %v: dnf failed, keel chose %v\ndnf: %s", seed, req, got, dnfErr)
			case err != nil:
				disagree++
				report("seed %d %v: keel: %v; dnf chose %v", seed, req, err, want)
			case strings.Join(got, " ") != strings.Join(want, " "):
				disagree++
				report("seed %d %v:\n keel only: %v\n dnf only:  %v", seed, req, minus(got, want), minus(want, got))
			}
		}
	}
	return requests, disagree
}

func minus(a, b []string) []string {
	m := map[string]bool{}
	for _, x := range b {
		m[x] = true
	}
	var out []string
	for _, x := range a {
		if !m[x] {
			out = append(out, x)
		}
	}
	return out
}
