package resolve_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// cached returns the bytes run produces for key, remembered in the
// shared test cache: dnf's answers only depend on the repository
// metadata and the request.
func cached(t *testing.T, dir string, key []string, run func() []byte) []byte {
	t.Helper()
	h := sha256.New()
	for _, k := range key {
		fmt.Fprintf(h, "%s\x00", k)
	}
	cache := filepath.Join(testenv.SharedCache(), dir, hex.EncodeToString(h.Sum(nil))[:32])
	if out, err := os.ReadFile(cache); err == nil {
		return out
	}
	out := run()
	os.MkdirAll(filepath.Dir(cache), 0o755)
	if tmp, err := os.CreateTemp(filepath.Dir(cache), ".tmp-*"); err == nil {
		tmp.Write(out)
		tmp.Close()
		os.Rename(tmp.Name(), cache)
	}
	return out
}

func repomd(t *testing.T, repo string) string {
	md, err := os.ReadFile(filepath.Join(repo, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(md)
}

// dnfCLI runs `dnf --installroot ... install --assumeno` and returns the
// name-evr set of its transaction, or nil and dnf's output.
func dnfCLI(t *testing.T, repo string, req []string) ([]string, string) {
	t.Helper()
	out := cached(t, "resolve-dnf", append([]string{"v2", repomd(t, repo)}, req...), func() []byte {
		testenv.RequireTool(t, "dnf")
		tmp := t.TempDir()
		os.MkdirAll(filepath.Join(tmp, "empty"), 0o755)
		args := []string{"--installroot=" + filepath.Join(tmp, "root"), "--setopt=reposdir=" + filepath.Join(tmp, "empty"),
			"--repofrompath=t,file://" + repo, "--releasever=1", "--nogpgcheck", "--setopt=install_weak_deps=False",
			"--setopt=best=True", "--setopt=cachedir=" + filepath.Join(tmp, "cache"), "install", "--assumeno"}
		cmd := exec.Command("dnf", append(args, req...)...)
		cmd.Env = append(os.Environ(), "COLUMNS=250", "LC_ALL=C.UTF-8")
		out, _ := cmd.CombinedOutput()
		return out
	})
	var set []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
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

// dnfAPI answers many requests in one process through dnf's Python API
// (dnf.Base.install and resolve: what `dnf install` runs). An answer is
// the sorted name-evr set, or nil and dnf's error.
func dnfAPI(t *testing.T, repo string, reqs [][]string, best bool) (sets [][]string, errs []string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "dnf_resolve.py"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(reqs)
	out := cached(t, "resolve-dnfapi", []string{"v1", repomd(t, repo), string(src), fmt.Sprint(best), string(in)}, func() []byte {
		dnfPath, err := exec.LookPath("dnf")
		if err != nil {
			testenv.RequireTool(t, "dnf")
		}
		// dnf's own interpreter: the one its script names.
		py := "/usr/bin/python3"
		if b, err := os.ReadFile(dnfPath); err == nil && bytes.HasPrefix(b, []byte("#!")) {
			py = strings.Fields(string(b[2:bytes.IndexByte(b, '\n')]))[0]
		}
		tmp := t.TempDir()
		os.MkdirAll(filepath.Join(tmp, "cache", "no-repos.d"), 0o755)
		b := "0"
		if best {
			b = "1"
		}
		cmd := exec.Command(py, script, repo, filepath.Join(tmp, "root"), filepath.Join(tmp, "cache"), b)
		cmd.Stdin = bytes.NewReader(in)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dnf_resolve.py: %v\n%s", err, stderr.String())
		}
		return out
	})
	var raw []json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) != len(reqs) {
		t.Fatalf("dnf_resolve.py answered %d of %d requests: %v", len(raw), len(reqs), err)
	}
	for _, r := range raw {
		var set []string
		if json.Unmarshal(r, &set) == nil {
			sets, errs = append(sets, set), append(errs, "")
			continue
		}
		var e struct{ Error string }
		json.Unmarshal(r, &e)
		sets, errs = append(sets, nil), append(errs, e.Error)
	}
	return sets, errs
}

func keelChoice(pool *resolve.Pool, req []string, best bool) ([]string, error) {
	res, err := pool.Resolve(resolve.Request{Install: req, NoBest: !best})
	if err != nil {
		return nil, err
	}
	set := []string{}
	for _, p := range res.Packages {
		set = append(set, p.Name+"-"+p.EVR.String())
	}
	sort.Strings(set)
	return set, nil
}

// requests draws install requests for a generated repository of n
// packages: one package, two packages, or a virtual provide or a file.
func requests(seed int64, n, count int) [][]string {
	r := rand.New(rand.NewSource(seed))
	var out [][]string
	for i := 0; i < count; i++ {
		req := []string{fmt.Sprintf("p%03d", r.Intn(n*2/5))}
		switch i % 5 {
		case 2:
			req = append(req, fmt.Sprintf("p%03d", r.Intn(n)))
		case 4:
			req = append(req, fmt.Sprintf("p%03d", r.Intn(n)), fmt.Sprintf("p%03d", r.Intn(n)))
		}
		out = append(out, req)
	}
	return out
}

// compare checks one answer; it returns whether keel and dnf disagree.
func compare(t *testing.T, what string, want []string, dnfErr string, got []string, err error) bool {
	t.Helper()
	switch {
	case want == nil && err != nil:
		return false
	case want == nil:
		t.Errorf("%s: dnf failed, keel chose %v\ndnf: %s", what, got, dnfErr)
	case err != nil:
		t.Errorf("%s: keel: %v; dnf chose %v", what, err, want)
	case strings.Join(got, " ") != strings.Join(want, " "):
		t.Errorf("%s:\n keel only: %v\n dnf only:  %v", what, minus(got, want), minus(want, got))
	default:
		return false
	}
	return true
}

var generators = []struct {
	name string
	gen  func(int64, int) []resolvetest.Spec
}{
	{"simple", resolvetest.RandomSimple}, // plain, versioned, virtual, file, "or"
	{"rich", resolvetest.Random},         // + and/if/else/unless/with/without, recommends, obsoletes, conflicts
}

// TestAgainstDNF compares keel's closures with the dnf command line's
// (dnf --installroot install --assumeno, best=True, no weak deps) on
// generated repositories: every choice among alternatives must agree.
func TestAgainstDNF(t *testing.T) {
	testenv.Short(t, "runs dnf (cached after the first run)")
	testenv.RequireTool(t, "dnf")
	for _, g := range generators {
		t.Run(g.name, func(t *testing.T) {
			n, failed := 0, 0
			for _, seed := range []int64{1, 2, 3} {
				repo := filepath.Join(t.TempDir(), "repo")
				if err := resolvetest.WriteRepo(repo, g.gen(seed, 150)); err != nil {
					t.Fatal(err)
				}
				pool := loadPool(t, repo)
				for _, req := range requests(seed, 150, 12) {
					n++
					want, dnfErr := dnfCLI(t, repo, req)
					got, err := keelChoice(pool, req, true)
					if compare(t, fmt.Sprintf("seed %d %v", seed, req), want, dnfErr, got, err) {
						failed++
					}
				}
			}
			t.Logf("%s: %d requests through the dnf command line, %d disagreements", g.name, n, failed)
		})
	}
}

// TestAgainstDNFAPI asks dnf's Python API many more questions: 300-package
// repositories, 10 seeds per generator, 40 requests each, with best=True
// (keel's default) and best=False (Request.NoBest).
func TestAgainstDNFAPI(t *testing.T) {
	testenv.Short(t, "runs dnf (cached after the first run)")
	testenv.RequireTool(t, "dnf")
	const size, seeds, per = 300, 10, 40
	for _, g := range generators {
		t.Run(g.name, func(t *testing.T) {
			n, failed, dnfFailed := 0, 0, 0
			for seed := int64(1); seed <= seeds; seed++ {
				repo := filepath.Join(t.TempDir(), "repo")
				if err := resolvetest.WriteRepo(repo, g.gen(100+seed, size)); err != nil {
					t.Fatal(err)
				}
				pool := loadPool(t, repo)
				reqs := requests(100+seed, size, per)
				for _, best := range []bool{true, false} {
					sets, errs := dnfAPI(t, repo, reqs, best)
					for i, req := range reqs {
						n++
						if sets[i] == nil {
							dnfFailed++
						}
						got, err := keelChoice(pool, req, best)
						if compare(t, fmt.Sprintf("seed %d best=%v %v", 100+seed, best, req), sets[i], errs[i], got, err) {
							failed++
						}
					}
				}
			}
			t.Logf("%s: %d requests through dnf's API (%d unsatisfiable for dnf), %d disagreements", g.name, n, dnfFailed, failed)
		})
	}
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

// BenchmarkResolve resolves requests on a generated 1,000-package
// repository with rich dependencies, obsoletes and conflicts.
func BenchmarkResolve(b *testing.B) {
	repo := filepath.Join(b.TempDir(), "repo")
	if err := resolvetest.WriteRepo(repo, resolvetest.Random(7, 1000)); err != nil {
		b.Fatal(err)
	}
	pool := loadPool(b, repo)
	reqs := requests(7, 1000, 20)
	for b.Loop() {
		for _, req := range reqs {
			pool.Resolve(resolve.Request{Install: req})
		}
	}
	b.ReportMetric(float64(len(reqs)), "requests/op")
}
