package rpmdb_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/rpmdb"
)

// TestRPMReadsIt installs generated packages, writes the database and
// asks the real rpm to list and verify them.
func TestRPMReadsIt(t *testing.T) {
	testenv.RequireTool(t, "rpm")
	dir, root := t.TempDir(), t.TempDir()
	specs := []resolvetest.Spec{
		{Name: "alpha", Version: "1.2", Requires: []string{"beta >= 1"}, Provides: []string{"greek = 1"},
			Files: map[string]string{"/usr/share/alpha/a.txt": "alpha\n", "/etc/alpha.conf": "x=1\n"},
			Links: map[string]string{"/usr/share/alpha/link": "a.txt"}},
		{Name: "beta", Version: "1.0", Epoch: 2, Files: map[string]string{"/usr/bin/beta": "#!/bin/sh\n"}},
		{Name: "empty"},
	}
	var blobs [][]byte
	for _, s := range specs {
		p, err := resolvetest.WriteRPM(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		pkg, err := rpm.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := rpm.ExtractPackage(context.Background(), pkg, root, rpm.ExtractPolicy{}); err != nil {
			t.Fatal(err)
		}
		b, err := rpmdb.InstalledHeader(pkg, resolvetest.Epoch)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	if err := rpmdb.Write(root, blobs); err != nil {
		t.Fatal(err)
	}
	rpmq := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("rpm", append([]string{"--root", root, "--dbpath", "/usr/lib/sysimage/rpm"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rpm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	lines := strings.Fields(rpmq("-qa", "--qf", "%{NEVRA}\n"))
	sort.Strings(lines)
	if got, want := strings.Join(lines, " "), "alpha-1.2-1.noarch beta-2:1.0-1.noarch empty-1.0-1.noarch"; got != want {
		t.Errorf("rpm -qa = %q, want %q", got, want)
	}
	if out := rpmq("-Va"); strings.TrimSpace(out) != "" {
		t.Errorf("rpm -Va reports:\n%s", out)
	}
	if out := rpmq("-qf", "/usr/bin/beta"); !strings.HasPrefix(out, "beta-") {
		t.Errorf("rpm -qf /usr/bin/beta = %q", out)
	}
	if out := rpmq("-q", "--whatprovides", "greek"); !strings.HasPrefix(out, "alpha-") {
		t.Errorf("whatprovides greek = %q", out)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "usr/lib/sysimage/rpm"))
	for _, e := range ents {
		if e.Name() != "rpmdb.sqlite" {
			t.Errorf("residue in rpmdb dir: %s", e.Name())
		}
	}
	// Same input, same bytes.
	root2 := t.TempDir()
	if err := rpmdb.Write(root2, blobs); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(root, rpmdb.Path))
	b, _ := os.ReadFile(filepath.Join(root2, rpmdb.Path))
	if string(a) != string(b) {
		t.Error("rpmdb not reproducible")
	}
}
