package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/rpm"
)

const sde = 1700000000

// specs are small real Keel-style packages: a library and a tool needing it.
var specs = map[string]string{
	"keel-hello": `Name: keel-hello
Version: %s
Release: 1.kl1
Summary: Hello from Keel
License: MIT
BuildArch: noarch
Requires: keel-hello-data = %%{version}-%%{release}
AutoReq: no
%%description
Prints hello.
%%package data
Summary: Data for keel-hello
%%description data
Data.
%%install
mkdir -p %%{buildroot}/usr/bin %%{buildroot}/usr/share/keel-hello
printf '#!/bin/sh\necho hello %s\n' > %%{buildroot}/usr/bin/keel-hello
chmod 0755 %%{buildroot}/usr/bin/keel-hello
printf 'data %s\n' > %%{buildroot}/usr/share/keel-hello/data.txt
%%files
/usr/bin/keel-hello
%%files data
/usr/share/keel-hello
%%changelog
* Tue Nov 14 2023 Keel Dev <dev@keel.example> - %s-1.kl1
- Release %s
`,
}

var (
	buildOnce sync.Once
	built     map[string][]string // version -> rpms
	buildErr  error
	buildDir  string // removed by TestMain
)

// testRPMs builds keel-hello{,-data} 1.0 and 2.0 once per test binary.
func testRPMs(t testing.TB) map[string][]string {
	t.Helper()
	testenv.RequireTool(t, "rpmbuild")
	buildOnce.Do(func() {
		built = map[string][]string{}
		base, err := os.MkdirTemp("", "keel-repo-test-rpms-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = base
		for _, v := range []string{"1.0", "2.0"} {
			spec := fmt.Sprintf(specs["keel-hello"], v, v, v, v, v)
			rpms, err := rpmbuild(filepath.Join(base, v), spec)
			if err != nil {
				buildErr = err
				return
			}
			built[v] = rpms
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func rpmbuild(top, spec string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(top, "SPECS"), 0o755); err != nil {
		return nil, err
	}
	sp := filepath.Join(top, "SPECS", "t.spec")
	if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("rpmbuild", "--define", "_topdir "+top, "--define", "_dbpath "+filepath.Join(top, "db"),
		"--define", "_buildhost keel", "--define", "use_source_date_epoch_as_buildtime 1",
		"--define", "clamp_mtime_to_source_date_epoch 1", "--nodeps", "--quiet", "-bb", sp)
	cmd.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", sde))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rpmbuild: %v\n%s", err, out)
	}
	rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
	sort.Strings(rpms)
	return rpms, nil
}

var (
	keyOnce      sync.Once
	testKey      *pgp.Key
	otherTestKey *pgp.Key
)

func keys(t testing.TB) (*pgp.Key, *pgp.Key) {
	keyOnce.Do(func() {
		testKey, _ = pgp.Generate("Keel Test", "test@keel.example", time.Unix(sde, 0))
		otherTestKey, _ = pgp.Generate("Mallory", "m@evil.example", time.Unix(sde, 0))
	})
	return testKey, otherTestKey
}

// serve runs repo.Serve on 127.0.0.1 with a free port and returns its URL.
func serve(t testing.TB, dir string) string {
	t.Helper()
	return serveCtx(t, context.Background(), dir)
}

// serveCtx is serve under ctx (a test's logger rides in it).
func serveCtx(t testing.TB, parent context.Context, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(parent)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Dir: dir, Addr: "127.0.0.1:0", Ready: func(a string) { addrc <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addrc:
		return "http://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return ""
}

type dnfResult struct {
	out string
	err error
}

// dnf runs stock dnf against the repository at url (gpgcheck=1,
// repo_gpgcheck=1) into a fresh installroot, with the rpmdb at
// /usr/lib/sysimage/rpm via a macros file.
func dnf(t testing.TB, url, root string, args ...string) dnfResult {
	t.Helper()
	testenv.RequireTool(t, "dnf")
	key, _ := keys(t)
	_ = key
	tmp := t.TempDir()
	rd := filepath.Join(tmp, "repos.d")
	for _, d := range []string{rd, filepath.Join(tmp, "log"), filepath.Join(tmp, "cache"), filepath.Join(tmp, "persist")} {
		os.MkdirAll(d, 0o755)
	}
	repoFile := fmt.Sprintf("[keel]\nname=keel\nbaseurl=%s/\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=%s/%s\nmetadata_expire=0\n", url, url, KeyFile(""))
	os.WriteFile(filepath.Join(rd, "keel.repo"), []byte(repoFile), 0o644)
	os.WriteFile(filepath.Join(tmp, "dnf.conf"), []byte("[main]\ngpgcheck=1\ninstall_weak_deps=False\nkeepcache=False\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, ".rpmmacros"), []byte("%_dbpath /usr/lib/sysimage/rpm\n"), 0o644)
	full := append([]string{"-y", "-c", filepath.Join(tmp, "dnf.conf"), "--setopt=reposdir=" + rd, "--releasever=1",
		"--nodocs", "--installroot=" + root, "--setopt=cachedir=" + filepath.Join(tmp, "cache"),
		"--setopt=logdir=" + filepath.Join(tmp, "log"), "--setopt=persistdir=" + filepath.Join(tmp, "persist")}, args...)
	cmd := exec.Command("dnf", full...)
	cmd.Env = append(os.Environ(), "HOME="+tmp, "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	return dnfResult{string(out), err}
}

func publish(t testing.TB, dir string, key *pgp.Key, pkgs ...string) *Result {
	t.Helper()
	res, err := Publish(context.Background(), Options{Dir: dir, Packages: pkgs, Key: key, SourceDateEpoch: sde})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return res
}

func TestDNFInstallsFromServedRepo(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	dir := t.TempDir()
	res := publish(t, dir, key, rpms["1.0"]...)
	if len(res.Added) != 2 {
		t.Fatalf("added %v", res.Added)
	}
	rep, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()})
	if err != nil {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	// Every published package passes rpm -K with the exported key.
	db := t.TempDir()
	if out, err := exec.Command("rpm", "--dbpath", db, "--import", filepath.Join(dir, KeyFile(""))).CombinedOutput(); err != nil {
		t.Fatalf("rpm --import: %v\n%s", err, out)
	}
	published, _ := filepath.Glob(filepath.Join(dir, "Packages", "*", "*.rpm"))
	for _, p := range published {
		if out, err := exec.Command("rpm", "--dbpath", db, "-K", p).CombinedOutput(); err != nil || !strings.Contains(string(out), "digests signatures OK") {
			t.Errorf("rpm -K %s: %v\n%s", p, err, out)
		}
	}
	url := serve(t, dir)
	root := t.TempDir()
	r := dnf(t, url, root, "install", "keel-hello")
	if r.err != nil {
		t.Fatalf("dnf install: %v\n%s", r.err, r.out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/share/keel-hello/data.txt")); err != nil || string(b) != "data 1.0\n" {
		t.Fatalf("installed data: %q %v\n%s", b, err, r.out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/sysimage/rpm/rpmdb.sqlite")); err != nil {
		t.Errorf("rpmdb not at /usr/lib/sysimage/rpm: %v", err)
	}

	// Incremental update: 2.0 joins, 1.0 metadata is re-used, dnf upgrades.
	res = publish(t, dir, key, rpms["2.0"]...)
	if len(res.Added) != 2 || res.Reused != 2 || res.Packages != 4 {
		t.Fatalf("update: %+v", res)
	}
	r = dnf(t, url, root, "upgrade")
	if r.err != nil {
		t.Fatalf("dnf upgrade: %v\n%s", r.err, r.out)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/share/keel-hello/data.txt")); string(b) != "data 2.0\n" {
		t.Fatalf("after upgrade: %q\n%s", b, r.out)
	}
	// Publishing the same packages again changes nothing.
	res = publish(t, dir, key, rpms["2.0"]...)
	if len(res.Added) != 0 || len(res.Unchanged) != 2 {
		t.Errorf("republish: %+v", res)
	}
}

// unsignedRepo writes a repository whose metadata is signed by key but
// whose packages are exactly the given files (unsigned or signed by anyone).
func unsignedRepo(t *testing.T, dir string, key *pgp.Key, files ...string) {
	t.Helper()
	var pkgs []*repodata.Package
	for _, f := range files {
		data, _ := os.ReadFile(f)
		p, err := rpm.ReadPackage(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		href := "Packages/" + filepath.Base(f)
		os.MkdirAll(filepath.Join(dir, "Packages"), 0o755)
		os.WriteFile(filepath.Join(dir, href), data, 0o644)
		sum := sha256.Sum256(data)
		md, err := repodata.NewPackage(p, repodata.FileInfo{Href: href, Size: int64(len(data)), Mtime: sde, Checksum: hex.EncodeToString(sum[:])})
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, md)
	}
	os.MkdirAll(filepath.Join(dir, metaDir), 0o755)
	if _, err := writeGeneration(dir, pkgs, Options{Key: key}, time.Unix(sde, 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := writeClientFiles(dir, Options{Key: key}, key.PublicArmored(), time.Unix(sde, 0)); err != nil {
		t.Fatal(err)
	}
}

func signWith(t *testing.T, key *pgp.Key, src, dst string) {
	t.Helper()
	p, err := rpm.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Sign(&b, func(h []byte) ([]byte, error) { return key.Sign(bytes.NewReader(h), time.Unix(sde, 0)) }); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dst, b.Bytes(), 0o644)
}

func TestRefusals(t *testing.T) {
	rpms := testRPMs(t)
	key, other := keys(t)
	type setup func(t *testing.T, dir string)
	corruptFile := func(p string, off int64) {
		f, _ := os.OpenFile(p, os.O_RDWR, 0)
		defer f.Close()
		fi, _ := f.Stat()
		b := make([]byte, 1)
		if off < 0 {
			off = fi.Size() + off
		}
		f.ReadAt(b, off)
		b[0] ^= 0x55
		f.WriteAt(b, off)
	}
	for _, tc := range []struct {
		name       string
		setup      setup
		keelWant   string // in keel verify's problems
		dnfWantAny []string
	}{
		{"unsigned-rpm", func(t *testing.T, dir string) {
			unsignedRepo(t, dir, key, rpms["1.0"]...)
		}, "unsigned package", []string{"is not signed"}},
		{"wrong-key-rpm", func(t *testing.T, dir string) {
			var signed []string
			for _, r := range rpms["1.0"] {
				d := filepath.Join(t.TempDir(), filepath.Base(r))
				signWith(t, other, r, d)
				signed = append(signed, d)
			}
			unsignedRepo(t, dir, key, signed...)
		}, "header signature", []string{"Public key for keel-hello-1.0-1.kl1.noarch.rpm is not installed"}},
		{"tampered-rpm", func(t *testing.T, dir string) {
			publish(t, dir, key, rpms["1.0"]...)
			ps, _ := filepath.Glob(filepath.Join(dir, "Packages", "*", "*.rpm"))
			for _, p := range ps {
				corruptFile(p, -20)
			}
		}, "checksum", []string{"Downloading successful, but checksum doesn't match"}},
		{"tampered-signed-rpm-consistent-metadata", func(t *testing.T, dir string) {
			// The package is signed but its payload changed after signing, and
			// the metadata (signed with the right key) matches the changed file.
			src := t.TempDir()
			publish(t, src, key, rpms["1.0"]...)
			ps, _ := filepath.Glob(filepath.Join(src, "Packages", "*", "*.rpm"))
			for _, p := range ps {
				corruptFile(p, -20)
			}
			unsignedRepo(t, dir, key, ps...)
		}, "payload SHA-256 digest mismatch", []string{"GPG check FAILED", "Payload SHA256 digest: BAD", "BAD"}},
		{"tampered-metadata", func(t *testing.T, dir string) {
			publish(t, dir, key, rpms["1.0"]...)
			p := filepath.Join(dir, "repodata", "repomd.xml")
			b, _ := os.ReadFile(p)
			os.Remove(p) // hard links: write a new inode, not through the old one
			os.WriteFile(p, bytes.Replace(b, []byte("<revision>"), []byte("<revision>6"), 1), 0o644)
		}, "bad signature by key " + key.Fingerprint(), []string{"repomd.xml GPG signature verification error"}},
		{"wrong-key-metadata", func(t *testing.T, dir string) {
			publish(t, dir, key, rpms["1.0"]...)
			p := filepath.Join(dir, "repodata", "repomd.xml")
			b, _ := os.ReadFile(p)
			sig, _ := other.SignArmored(bytes.NewReader(b), time.Unix(sde, 0))
			os.Remove(p + ".asc")
			os.WriteFile(p+".asc", sig, 0o644)
		}, "signed by key " + other.Fingerprint() + ", which is not trusted (trusted: " + key.Fingerprint(), []string{"repomd.xml GPG signature verification error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			rep, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()})
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("keel verify accepted it: %v", err)
			}
			found := false
			for _, p := range rep.Problems {
				if strings.Contains(p.What, tc.keelWant) {
					found = true
				}
			}
			if !found {
				t.Errorf("keel verify problems %+v lack %q", rep.Problems, tc.keelWant)
			}
			r := dnf(t, serve(t, dir), t.TempDir(), "install", "keel-hello")
			if r.err == nil {
				t.Fatalf("dnf installed from a bad repository:\n%s", r.out)
			}
			t.Logf("dnf refused:\n%s", r.out)
			ok := false
			for _, w := range tc.dnfWantAny {
				ok = ok || strings.Contains(r.out, w)
			}
			if !ok {
				t.Errorf("dnf failed for another reason:\n%s", r.out)
			}
		})
	}
}

func repoState(t *testing.T, dir string) string {
	t.Helper()
	gen, _ := currentGeneration(dir)
	var names []string
	filepath.Walk(filepath.Join(dir, "repodata")+"/", func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			names = append(names, filepath.Base(p))
		}
		return nil
	})
	return gen + "|" + strings.Join(names, ",")
}

func TestBadInputLeavesRepoUntouched(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	dir := t.TempDir()
	publish(t, dir, key, rpms["1.0"]...)
	before := repoState(t, dir)
	good, _ := os.ReadFile(rpms["2.0"][0])
	tmp := t.TempDir()
	truncated := filepath.Join(tmp, "trunc.rpm")
	os.WriteFile(truncated, good[:len(good)/3], 0o644)
	corrupt := filepath.Join(tmp, "corrupt.rpm")
	c := append([]byte(nil), good...)
	c[len(c)-30] ^= 0xff
	os.WriteFile(corrupt, c, 0o644)
	// Same NEVRA as a published package, different content.
	dup := filepath.Join(tmp, "dup.rpm")
	{
		p, _ := rpm.Open(rpms["1.0"][0])
		h := rpm.CloneHeader(p.Header)
		h.SetI18NString(rpm.TagSummary, "Impostor")
		hf := h.MarshalFile()
		raw, _ := p.RawPayload()
		var pl bytes.Buffer
		pl.ReadFrom(raw)
		raw.Close()
		f, _ := os.Create(dup)
		rpm.WritePackage(f, p.Lead, rpm.NewSignatureHeader(hf, pl.Bytes(), p.Header.ArchiveSize()), hf, &pl)
		f.Close()
	}
	// Signed by our key, then the signature bytes damaged.
	badsig := filepath.Join(tmp, "badsig.rpm")
	{
		p, _ := rpm.Open(rpms["2.0"][0])
		f, _ := os.Create(badsig)
		p.Sign(f, func(h []byte) ([]byte, error) {
			s, err := key.Sign(bytes.NewReader(h), time.Unix(sde, 0))
			s[len(s)-5] ^= 0x40
			return s, err
		})
		f.Close()
	}
	for _, tc := range []struct {
		name string
		pkgs []string
		want string
	}{
		{"truncated", []string{rpms["2.0"][1], truncated}, "trunc.rpm"},
		{"bad-signature", []string{badsig}, "badsig.rpm: bad signature"},
		{"corrupt", []string{corrupt}, "corrupt.rpm: corrupt or tampered"},
		{"duplicate-nevra", []string{dup}, "duplicate NEVRA"},
		{"duplicate-in-input", []string{rpms["2.0"][0], dup, rpms["1.0"][0]}, "duplicate NEVRA"},
		{"missing", []string{filepath.Join(tmp, "nope.rpm")}, "nope.rpm"},
		{"directory", []string{tmp}, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Publish(context.Background(), Options{Dir: dir, Packages: tc.pkgs, Key: key, SourceDateEpoch: sde})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if after := repoState(t, dir); after != before {
				t.Errorf("repository changed:\n%s\n%s", before, after)
			}
		})
	}
	if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()}); err != nil {
		t.Errorf("repository no longer verifies: %v", err)
	}
}

func TestServe(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	dir := t.TempDir()
	publish(t, dir, key, rpms["1.0"]...)
	url := serve(t, dir)
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", url+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ps, _ := filepath.Glob(filepath.Join(dir, "Packages", "*", "*.rpm"))
	rel, _ := filepath.Rel(dir, ps[0])
	for _, tc := range []struct {
		path   string
		hdr    []string
		status int
		ctype  string
	}{
		{"/repodata/repomd.xml", nil, 200, "application/xml"},
		{"/repodata/repomd.xml.asc", nil, 200, "application/pgp-signature"},
		{"/" + KeyFile(""), nil, 200, "application/pgp-keys"},
		{"/" + rel, nil, 200, "application/x-rpm"},
		{"/" + rel, []string{"Range", "bytes=0-3"}, 206, "application/x-rpm"},
		{"/" + rel, []string{"If-Modified-Since", time.Unix(sde+10, 0).UTC().Format(http.TimeFormat)}, 304, ""},
		{"/.meta/", nil, 404, ""},
		{"/../../etc/passwd", nil, 404, ""},
		{"/Packages/", nil, 404, ""},
	} {
		resp := get(tc.path, tc.hdr...)
		if resp.StatusCode != tc.status || (tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) {
			t.Errorf("GET %s %v: %d %q, want %d %q", tc.path, tc.hdr, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
	}
	etag := get("/repodata/repomd.xml").Header.Get("ETag")
	if resp := get("/repodata/repomd.xml", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
}

// TestOldMetadataDoesNotPileUp updates a repository several times: the live
// generation holds its own files and the previous generation's, no more.
func TestOldMetadataDoesNotPileUp(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	dir := t.TempDir()
	var all []string
	all = append(all, rpms["1.0"]...)
	all = append(all, rpms["2.0"]...)
	for i, src := range all {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o644)
		res, err := Index(context.Background(), IndexOptions{Dir: dir, Key: key, SourceDateEpoch: sde})
		if err != nil {
			t.Fatal(err)
		}
		if res.Packages != i+1 || res.Reused != i {
			t.Errorf("step %d: %+v", i, res)
		}
		prim, _ := filepath.Glob(filepath.Join(dir, "repodata", "*-primary.xml.zst"))
		if want := min(i+1, 2); len(prim) != want {
			t.Errorf("step %d: %d primary files in repodata, want %d", i, len(prim), want)
		}
		gens, _ := filepath.Glob(filepath.Join(dir, metaDir, "[0-9]*"))
		if len(gens) > 2 {
			t.Errorf("step %d: %d generations kept", i, len(gens))
		}
	}
	if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()}); err == nil {
		t.Error("indexed unsigned packages passed verify")
	}
}

// TestConcurrentPublish runs two publishers at once: both sets must end up
// in the repository.
func TestConcurrentPublish(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []string{"1.0", "2.0"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Publish(context.Background(), Options{Dir: dir, Packages: rpms[v], Key: key, SourceDateEpoch: sde})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if set := pkgSet(t, dir); strings.Count(set, " ")+1 != 4 {
		t.Errorf("repository has %s", set)
	}
}

// TestHostileTextDoesNotPoisonRepo publishes a package whose summary and
// description hold control characters, markup and invalid UTF-8 next to good
// packages: dnf must still read the repository and see every package.
func TestHostileTextDoesNotPoisonRepo(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	p, err := rpm.Open(rpms["2.0"][0])
	if err != nil {
		t.Fatal(err)
	}
	h := rpm.CloneHeader(p.Header)
	h.SetI18NString(rpm.TagSummary, "evil \x01\x1b[31m </summary><name>x</name> & \xff\xfe")
	h.SetI18NString(rpm.TagDescription, "]]> <!-- \x00hidden")
	hf := h.MarshalFile()
	raw, _ := p.RawPayload()
	var pl bytes.Buffer
	pl.ReadFrom(raw)
	raw.Close()
	evil := filepath.Join(t.TempDir(), "evil.rpm")
	f, _ := os.Create(evil)
	if err := rpm.WritePackage(f, p.Lead, rpm.NewSignatureHeader(hf, pl.Bytes(), p.Header.ArchiveSize()), hf, &pl); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir := t.TempDir()
	publish(t, dir, key, append([]string{evil, rpms["2.0"][1]}, rpms["1.0"]...)...)
	if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()}); err != nil {
		t.Fatal(err)
	}
	r := dnf(t, serve(t, dir), t.TempDir(), "repoquery", "--available", "--qf", "%{name}-%{version}")
	if r.err != nil {
		t.Fatalf("dnf: %v\n%s", r.err, r.out)
	}
	for _, want := range []string{"keel-hello-2.0", "keel-hello-1.0", "keel-hello-data-2.0", "keel-hello-data-1.0"} {
		if !strings.Contains(r.out, want+"\n") {
			t.Errorf("dnf does not list %s:\n%s", want, r.out)
		}
	}
}
