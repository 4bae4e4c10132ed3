package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/internal/testenv"
)

// The README's CLI reference must name every command keel has.
func TestREADMEListsEveryCommand(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			name := prefix + " " + sub.Name()
			if !documented(readme, prefix, sub.Name()) {
				t.Errorf("README.md does not document `%s`", name)
			}
			walk(sub, name)
		}
	}
	walk(rootCmd, "keel")
}

func TestDoctorPackages(t *testing.T) {
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetArgs([]string{"doctor", "--packages"})
	if err := rootCmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"rpm", "bubblewrap", "qemu-system-x86", "dnf"} {
		if !strings.Contains(out.String(), p+"\n") {
			t.Errorf("doctor --packages lacks %s", p)
		}
	}
}

// documented: a README line names "`<parent> <sub>" or, in a row like
// "`keel scan repo|rpm|image …`", the parent with sub among the alternatives.
func documented(readme, parent, sub string) bool {
	for _, line := range strings.Split(readme, "\n") {
		i := strings.Index(line, "`"+parent+" ")
		if i < 0 {
			continue
		}
		rest := line[i+len(parent)+2:]
		if j := strings.IndexAny(rest, " `"); j >= 0 {
			rest = rest[:j]
		}
		for _, alt := range strings.Split(strings.ReplaceAll(rest, "\\|", "|"), "|") {
			if alt == sub {
				return true
			}
		}
	}
	return false
}

func TestListFlag(t *testing.T) {
	for _, tc := range []struct {
		split bool
		def   []string
		sets  []string
		want  []string
	}{
		{false, nil, []string{"a b", "c,d"}, []string{"a b", "c,d"}},
		{true, nil, []string{"a,b", "c"}, []string{"a", "b", "c"}},
		{true, nil, []string{`"x,y",z`}, []string{"x,y", "z"}},
		{false, []string{"default"}, []string{"new"}, []string{"new"}},
		{false, []string{"default"}, nil, []string{"default"}},
	} {
		got := slices.Clone(tc.def)
		f := newListFlag(&got, tc.split)
		for _, s := range tc.sets {
			if err := f.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("split=%v sets %q: got %q, want %q", tc.split, tc.sets, got, tc.want)
		}
	}
	var empty []string
	if s := newListFlag(&empty, false).String(); s != "" {
		t.Errorf("empty list prints %q, want \"\" (no default in help)", s)
	}
	if err := newListFlag(&empty, true).Set(`"unterminated`); err == nil {
		t.Error("bad CSV accepted")
	}
}

// TestEarlyInitComesLate: the repo walk starts from early's init, which
// must run after pkg/repodata's (and so after the crypto, compression and
// sqlite packages whose init writes most; see early's package comment).
// This test binary links what keel links; its init trace tells the order.
func TestEarlyInitComesLate(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pos := map[string]int{}
	for i, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			pos[f[1]] = i + 1
		}
	}
	early, repodata := pos["github.com/keel-linux/keel/cmd/keel/internal/early"], pos["github.com/keel-linux/keel/pkg/repodata"]
	if early == 0 || repodata == 0 || early < repodata {
		t.Fatalf("init order: early at %d, pkg/repodata at %d (0: not traced); want early after repodata", early, repodata)
	}
}
