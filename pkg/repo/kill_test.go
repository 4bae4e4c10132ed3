package repo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repodata"
)

// TestMain doubles as a publish helper process that the kill test SIGKILLs.
func TestMain(m *testing.M) {
	if d := os.Getenv("KEEL_TEST_PUBLISH_DIR"); d != "" {
		k, err := pgp.LoadDir(os.Getenv("KEEL_TEST_PUBLISH_KEYS"))
		if err == nil {
			_, err = Publish(context.Background(), Options{Dir: d, Key: k, SourceDateEpoch: sde,
				Packages: strings.Split(os.Getenv("KEEL_TEST_PUBLISH_PKGS"), "\n")})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func bulkSpec(n int) string {
	var b strings.Builder
	b.WriteString("Name: keel-bulk\nVersion: 1\nRelease: 1\nSummary: bulk\nLicense: MIT\nBuildArch: noarch\nAutoReq: no\n%description\nbulk\n")
	for i := range n {
		fmt.Fprintf(&b, "%%package p%d\nSummary: bulk %d\n%%description p%d\nbulk %d\n", i, i, i, i)
	}
	b.WriteString("%install\n")
	for i := range n {
		fmt.Fprintf(&b, "mkdir -p %%{buildroot}/usr/share/bulk%d && echo %d > %%{buildroot}/usr/share/bulk%d/f\n", i, i, i)
	}
	b.WriteString("%files\n")
	for i := range n {
		fmt.Fprintf(&b, "%%files p%d\n/usr/share/bulk%d\n", i, i)
	}
	return b.String()
}

func pkgSet(t *testing.T, dir string) string {
	t.Helper()
	_, pkgs, err := repodata.ReadRepo(dir)
	if err != nil {
		t.Fatalf("reading repository: %v", err)
	}
	var n []string
	for _, p := range pkgs {
		n = append(n, p.NEVRA())
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// TestKillPublish SIGKILLs a publish at many points and checks that the
// repository is always exactly the old or the new one, verifies, and that
// dnf reads it.
func TestKillPublish(t *testing.T) {
	rpms := testRPMs(t)
	key, _ := keys(t)
	bulk, err := rpmbuild(filepath.Join(t.TempDir(), "bulk"), bulkSpec(40))
	if err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	f, _ := os.Create(filepath.Join(keyDir, pgp.SecretFile))
	key.WritePrivate(f)
	f.Close()

	pristine := filepath.Join(t.TempDir(), "pristine")
	publish(t, pristine, key, rpms["1.0"]...)
	oldSet := pkgSet(t, pristine)
	newPkgs := append(append([]string(nil), bulk...), rpms["2.0"]...)

	run := func(dir string, killAfter time.Duration) (time.Duration, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "KEEL_TEST_PUBLISH_DIR="+dir, "KEEL_TEST_PUBLISH_KEYS="+keyDir,
			"KEEL_TEST_PUBLISH_PKGS="+strings.Join(newPkgs, "\n"))
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		if killAfter >= 0 {
			time.Sleep(killAfter)
			cmd.Process.Kill() // SIGKILL
		}
		err := cmd.Wait()
		return time.Since(start), err
	}
	clone := func(name string) string {
		d := filepath.Join(t.TempDir(), name)
		if out, err := exec.Command("cp", "-a", pristine, d).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		return d
	}
	// One full run tells how long a publish takes here; kill points spread over it.
	full, err := run(clone("full"), -1)
	if err != nil {
		t.Fatalf("helper publish: %v", err)
	}
	points := 12
	if testing.Short() {
		points = 4
	}
	sawOld, sawNew := 0, 0
	for i := range points {
		dir := clone(fmt.Sprintf("k%d", i))
		at := full * time.Duration(i) / time.Duration(points-1)
		run(dir, at)
		set := pkgSet(t, dir)
		switch {
		case set == oldSet:
			sawOld++
		case strings.Count(set, " ")+1 == 2+len(newPkgs):
			sawNew++
		default:
			t.Fatalf("kill at %v: repository is neither old nor new: %s", at, set)
		}
		if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Keyring: key.Keyring()}); err != nil {
			t.Fatalf("kill at %v: %v", at, err)
		}
		if i%3 == 0 || i == points-1 {
			r := dnf(t, serve(t, dir), t.TempDir(), "repoquery", "--available", "--qf", "%{name}")
			if r.err != nil || !strings.Contains(r.out, "keel-hello-data") {
				t.Fatalf("kill at %v: dnf cannot read the repository: %v\n%s", at, r.err, r.out)
			}
		}
		// The next publish completes from whatever state the kill left.
		if _, err := run(dir, -1); err != nil {
			t.Fatalf("kill at %v: publish after the kill: %v", at, err)
		}
		if set := pkgSet(t, dir); strings.Count(set, " ")+1 != 2+len(newPkgs) {
			t.Fatalf("kill at %v: publish after the kill left %s", at, set)
		}
	}
	t.Logf("publish took %v; %d kills left the old repository, %d the new one", full, sawOld, sawNew)
}
