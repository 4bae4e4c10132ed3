package image

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testdistro"
	"github.com/keel-linux/keel/internal/testenv"
)

// distroRepo publishes the real Keel Linux packages into a repository
// signed with testKey.
func distroRepo(t *testing.T) string {
	t.Helper()
	rpms := testdistro.RPMs(t)
	return signedRepo(t, testKey(), rpms)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// unpackAndRun unpacks the OCI layout with umoci and runs argv from the
// bundle's rootfs in a bubblewrap sandbox (the rootfs bound as /).
func unpackAndRun(t *testing.T, layout string, argv ...string) (rootfs, out string) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack", "--image", layout + ":latest", bundle}
	if os.Getuid() != 0 {
		args = append([]string{"--rootless"}, args...)
	}
	run(t, "umoci", args...)
	rootfs = filepath.Join(bundle, "rootfs")
	bw := []string{"--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--die-with-parent", "--clearenv",
		"--setenv", "PATH", "/usr/sbin:/usr/bin", "--"}
	return rootfs, run(t, "bwrap", append(bw, argv...)...)
}

func TestDistroContainers(t *testing.T) {
	testenv.RequireTool(t, "skopeo", "umoci", "bwrap", "rpm")
	repo := distroRepo(t)
	dir := filepath.Join(testenv.RepoRoot(), "distro", "images")

	t.Run("container-core", func(t *testing.T) {
		d, err := Load(dir, "container-core")
		if err != nil {
			t.Fatal(err)
		}
		var first []byte
		var res *Result
		for i := 0; i < 2; i++ {
			res, err = Build(context.Background(), Options{Definition: d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde, Trusted: testKeyring()})
			if err != nil {
				t.Fatal(err)
			}
			m, _ := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
			if i == 0 {
				first = m
			} else if !bytes.Equal(first, m) {
				t.Errorf("two builds differ:\n%s\n%s", first, m)
			}
		}
		layout := filepath.Join(res.Dir, "oci")
		var insp struct {
			Architecture, Os string
			Layers           []string
		}
		if err := json.Unmarshal([]byte(run(t, "skopeo", "inspect", "oci:"+layout+":latest")), &insp); err != nil {
			t.Fatal(err)
		}
		if insp.Architecture != "amd64" || insp.Os != "linux" || len(insp.Layers) != 1 {
			t.Errorf("skopeo inspect oci: %+v", insp)
		}
		run(t, "skopeo", "inspect", "docker-archive:"+filepath.Join(res.Dir, "container-core.docker.tar"))
		rootfs, out := unpackAndRun(t, layout, "/bin/sh", "-c", "echo keel-$((40+2)); ls /usr/bin/busybox")
		if !strings.Contains(out, "keel-42") {
			t.Errorf("sh in the container said %q", out)
		}
		qa := run(t, "rpm", "--root", rootfs, "--dbpath", "/usr/lib/sysimage/rpm", "-qa", "--qf", "%{NAME}\n")
		for _, want := range []string{"filesystem", "glibc", "busybox", "keel-release", "libgcc"} {
			if !strings.Contains(qa, want+"\n") {
				t.Errorf("rpm -qa lacks %s:\n%s", want, qa)
			}
		}
		// --nodeps: the definitions assume rtld(GNU_HASH) (see container-core.yaml).
		if v := run(t, "rpm", "--root", rootfs, "--dbpath", "/usr/lib/sysimage/rpm", "-Va", "--nodeps"); strings.TrimSpace(v) != "" {
			t.Errorf("rpm -Va in the unpacked image:\n%s", v)
		}
		for _, bad := range []string{"usr/lib/sysimage/rpm/rpmdb.sqlite-wal", "var/cache/dnf", "var/log/dnf.log", "root/.rpmdb"} {
			if _, err := os.Lstat(filepath.Join(rootfs, bad)); err == nil {
				t.Errorf("residue %s", bad)
			}
		}
	})

	t.Run("distroless", func(t *testing.T) {
		base, err := Load(dir, "distroless")
		if err != nil {
			t.Fatal(err)
		}
		// The shipped definition plus a program to run.
		d := *base
		d.Packages = append(append([]string(nil), base.Packages...), "hello")
		res, err := Build(context.Background(), Options{Definition: &d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde, Trusted: testKeyring()})
		if err != nil {
			t.Fatal(err)
		}
		rootfs, out := unpackAndRun(t, filepath.Join(res.Dir, "oci"), "/usr/bin/hello")
		if !strings.Contains(out, "Hello, world!") {
			t.Errorf("hello said %q", out)
		}
		for _, p := range []string{"bin/sh", "usr/bin/sh", "usr/bin/busybox", "usr/bin/rpm", "usr/bin/dnf"} {
			if _, err := os.Lstat(filepath.Join(rootfs, p)); err == nil {
				t.Errorf("distroless image has /%s", p)
			}
		}
		cm, err := os.ReadFile(filepath.Join(rootfs, "var/lib/rpmmanifest/container-manifest-2"))
		if err != nil || !strings.Contains(string(cm), "hello\t2.10-") || !strings.Contains(string(cm), "glibc\t") {
			t.Errorf("container-manifest-2: %v %q", err, cm)
		}
		pw, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
		if !strings.Contains(string(pw), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd lacks nonroot: %q", pw)
		}
	})
}
