package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keel-linux/keel/internal/testenv"
)

// keel runs one command line in-process on a fresh command tree.
func keel(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

// walk calls f on every command of a fresh tree but help and completion.
func walk(f func(c *cobra.Command)) {
	var rec func(c *cobra.Command)
	rec = func(c *cobra.Command) {
		f(c)
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			rec(sub)
		}
	}
	root := newRootCmd(&app{})
	root.InitDefaultHelpCmd()
	rec(root)
}

// The README's CLI reference must name every command keel has.
func TestREADMEListsEveryCommand(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	walk(func(c *cobra.Command) {
		if !c.HasParent() {
			return
		}
		if !documented(readme, c.Parent().CommandPath(), c.Name()) {
			t.Errorf("README.md does not document `%s`", c.CommandPath())
		}
	})
}

// concepts: a flag whose usage starts with the phrase is that concept and
// must be spelt the one way (README "CLI reference": one dialect).
var concepts = []struct {
	usage *regexp.Regexp
	name  string
}{
	{regexp.MustCompile(`^key directory`), "keys"},
	{regexp.MustCompile(`^output file`), "output"},
	{regexp.MustCompile(`^output directory`), "out"},
	{regexp.MustCompile(`^repository directory`), "repo"},
	{regexp.MustCompile(`^(output|document|report) format`), "format"},
	{regexp.MustCompile(`^trusted public key`), "key"},
}

// TestCommandTree holds every command to the dialect, so a new command
// cannot break it: help texts, flag spellings, range-checked numbers, and
// errors under --json printed as JSON.
func TestCommandTree(t *testing.T) {
	shorthands := map[string]string{} // flag name -> shorthand, tree-wide
	walk(func(c *cobra.Command) {
		path := c.CommandPath()
		if c.Short == "" || c.Long == "" {
			t.Errorf("%s: needs Short and Long help", path)
		}
		if c.Runnable() && !c.HasSubCommands() && c.Example == "" {
			t.Errorf("%s: needs an Example", path)
		}
		if strings.Contains(c.Long, "once they exist") || strings.Contains(c.Long, "once those") {
			t.Errorf("%s: help describes stages that do not exist yet", path)
		}
		check := func(f *pflag.Flag) {
			if f.Name == "help" || f.Name == "version" && !c.HasParent() {
				return
			}
			if f.Usage == "" {
				t.Errorf("%s --%s: no usage text", path, f.Name)
			}
			if f.Deprecated != "" {
				t.Errorf("%s --%s: pflag's MarkDeprecated warns on stdout; use deprecate", path, f.Name)
			}
			if f.Annotations[deprecatedAnnotation] != nil {
				return
			}
			switch f.Value.(type) {
			case *rangeFlag[int], *rangeFlag[time.Duration]:
			default:
				if tp := f.Value.Type(); strings.Contains(tp, "int") || strings.Contains(tp, "float") || tp == "duration" {
					t.Errorf("%s --%s: %s flag without a range check (use intFlagP or durationFlagP)", path, f.Name, tp)
				}
			}
			for _, cn := range concepts {
				if cn.usage.MatchString(f.Usage) && f.Name != cn.name {
					t.Errorf("%s --%s: %q is spelt --%s everywhere", path, f.Name, cn.usage, cn.name)
				}
			}
			if f.Name == "dir" || f.Name == "output-dir" || f.Name == "out-dir" {
				t.Errorf("%s --%s: an old spelling; use --keys, --repo or --out", path, f.Name)
			}
			if s, ok := shorthands[f.Name]; ok && s != f.Shorthand {
				t.Errorf("%s --%s: shorthand %q, elsewhere %q", path, f.Name, f.Shorthand, s)
			}
			shorthands[f.Name] = f.Shorthand
		}
		c.LocalFlags().VisitAll(check)
		c.InheritedFlags().VisitAll(check)

		if !c.Runnable() {
			return
		}
		args := append(strings.Fields(path)[1:], "--json", "--no-such-flag")
		stdout, stderr, code := keel(t, context.Background(), args...)
		if code != 2 {
			t.Errorf("%s --no-such-flag: exit %d, want 2 (usage error)", path, code)
		}
		var rep errorReport
		if err := json.Unmarshal([]byte(stderr), &rep); err != nil || rep.Error == "" || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%s --json: error is not one JSON object with \"error\": %q (%v)", path, stderr, err)
		}
		if stdout != "" {
			t.Errorf("%s --json with a usage error printed on stdout: %q", path, stdout)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"build", "-j", "-3"}, "out of range"},
		{[]string{"boot", "--cpus", "0"}, "out of range"},
		{[]string{"boot", "--timeout", "-5s"}, "out of range"},
		{[]string{"verify"}, "usage: keel verify RELEASE_DIR [flags]\nhint: see 'keel verify --help'"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"repo", "bogus"}, `unknown command "bogus" for "keel repo"`},
		{[]string{"-v", "-q", "version"}, "contradict"},
		{[]string{"graph", "--format", "svg"}, "expected text, json or dot"},
		{[]string{"boot", "x.img", "--format", "vmdk"}, "want raw, qcow2 or vhd"},
		{[]string{"scan", "repo", "r", "--format", "xml"}, "expected table, json or sarif"},
	} {
		_, stderr, code := keel(t, context.Background(), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("keel %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := keel(t, context.Background(), "version")
	if code != 0 || out != "keel "+version+"\n" {
		t.Errorf("keel version: %d %q", code, out)
	}
	out, _, _ = keel(t, context.Background(), "version", "--json")
	if out != `{"version":"`+version+`"}`+"\n" {
		t.Errorf("keel version --json: %q", out)
	}
}

// A cancelled run (Ctrl-C) says "interrupted" and exits 130.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code := keel(t, ctx, "verity", "format", data, filepath.Join(dir, "hash"))
	if code != 130 || stderr != "keel: interrupted\n" {
		t.Errorf("interrupted: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "hash")); err == nil {
		t.Error("an interrupted verity format left its output")
	}
}

// keel boot refuses what is not a disk image before QEMU starts.
func TestBootRefusesNonDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(p, []byte("not a disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := keel(t, context.Background(), "boot", "--no-manifest", p)
	if code != 1 || !strings.Contains(stderr, "not a disk image") {
		t.Errorf("keel boot notes.txt: exit %d, %q", code, stderr)
	}
}

// --json output is JSON lines: every line of stdout one object.
func TestJSONLines(t *testing.T) {
	for _, args := range [][]string{{"specs"}, {"graph"}, {"image", "list"}, {"advisories", "list"}, {"version"}, {"doctor", "--packages"}} {
		out, stderr, code := keel(t, context.Background(), append([]string{"--json", "--cache", t.TempDir()}, args...)...)
		if code != 0 {
			t.Fatalf("keel --json %v: exit %d: %s", args, code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for i, l := range lines {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Errorf("keel --json %v: line %d is not a JSON object: %v: %.80q", args, i+1, err, l)
			}
		}
	}
}

// TestMain runs keel's main instead of the tests when asked: a test then
// drives the real process (signals, exit status).
func TestMain(m *testing.M) {
	if os.Getenv("KEEL_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// Ctrl-C on the real process: the context is cancelled, the command stops,
// "interrupted" and exit 130 (repo serve on loopback, stopped by SIGINT).
func TestSIGINT(t *testing.T) {
	cmd := exec.Command(os.Args[0], "repo", "serve", "--repo", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "KEEL_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "serving ") {
		cmd.Process.Kill()
		t.Fatalf("repo serve said %q (%v); stderr %s", line, err, stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || stderr.String() != "keel: interrupted\n" {
		t.Errorf("after SIGINT: %v, stderr %q; want exit 130 and \"keel: interrupted\"", err, stderr.String())
	}
}

// The old --dir of keys still works for one release, with a warning.
func TestDeprecatedKeyDir(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := keel(t, context.Background(), "keys", "export", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "--dir is deprecated and goes away in the next release; use --keys") || !strings.Contains(stderr, dir) {
		t.Errorf("keys export --dir: exit %d, stderr %q", code, stderr)
	}
}

// Errors name file and line under --json.
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want errorReport
	}{
		{"reading specs: /d/SPECS/a/a.spec:12: bad macro", errorReport{File: "/d/SPECS/a/a.spec", Line: 12}},
		{"/d/keel.yaml: line 3: field pakages not found", errorReport{File: "/d/keel.yaml", Line: 3}},
		{"image vm: /d/images/vm.yaml: no such definition", errorReport{File: "/d/images/vm.yaml"}},
		{"signing key in /k/secret.asc: missing (run `keel keys init` or pass --keys DIR)", errorReport{File: "/k/secret.asc", Hint: "run `keel keys init` or pass --keys DIR"}},
		{"3 specs failed", errorReport{}},
		{"/d/images/i.yaml:3: unknown key `pakages` at the top level; did you mean `packages`?", errorReport{File: "/d/images/i.yaml", Line: 3, Hint: "did you mean `packages`?"}},
		{"/x: not a distribution tree (no keel.yaml); pass --distro DIR", errorReport{File: "/x", Hint: "pass --distro DIR"}},
	} {
		got := describe(errString(tc.msg))
		tc.want.Error = tc.msg
		if got != tc.want {
			t.Errorf("describe(%q) = %+v, want %+v", tc.msg, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func FuzzDescribe(f *testing.F) {
	for _, s := range []string{"a.spec:1: x", "/x.yaml: line 2: y", "(run keel keys init)", "", "::1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := describe(errString(s))
		if r.Error != s || r.Line < 0 {
			t.Fatalf("describe(%q) = %+v", s, r)
		}
	})
}

// `keel specs` outside a checkout reads the embedded tree, with the dist
// tag in every EVR; a broken keel.yaml is reported, not skipped.
func TestSpecsOutsideCheckout(t *testing.T) {
	t.Chdir(t.TempDir())
	out, stderr, code := keel(t, context.Background(), "--cache", t.TempDir(), "specs")
	if code != 0 {
		t.Fatalf("keel specs outside a checkout: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, ".kl1 (") {
		t.Errorf("keel specs: EVRs without the dist tag:\n%s", out)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "keel.yaml"), []byte("name: x\npakages: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = keel(t, context.Background(), "--json", "-C", bad, "specs")
	var rep errorReport
	if code != 1 || json.Unmarshal([]byte(stderr), &rep) != nil || !strings.HasSuffix(rep.File, "keel.yaml") {
		t.Errorf("keel specs on a bad keel.yaml: exit %d, %q", code, stderr)
	}
}

func TestDoctorPackages(t *testing.T) {
	out, stderr, code := keel(t, context.Background(), "doctor", "--packages")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, p := range []string{"rpm", "bubblewrap", "qemu-system-x86", "dnf"} {
		if !strings.Contains(out, p+"\n") {
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

// TestScanNeedsAdvisories: a scan with no advisory data fails instead of
// reporting "0 affected"; outside a checkout it uses the embedded tree's
// store and says so.
func TestScanNeedsAdvisories(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	m := filepath.Join(dir, "manifest.json")
	os.WriteFile(m, []byte(`{"image":"x","arch":"x86_64","packages":[{"name":"zzz-none","epoch":0,"version":"1","release":"1","arch":"x86_64","source":"zzz-none"}]}`), 0o644)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scan", "image", m, "--store", filepath.Join(dir, "nonexistent")}, 1, "no advisory store at " + filepath.Join(dir, "nonexistent")},
		{[]string{"scan", "image", m, "--store", filepath.Join(dir, "empty")}, 1, "no advisory data in " + filepath.Join(dir, "empty")},
		{[]string{"--cache", t.TempDir(), "scan", "image", m}, 0, "(the embedded Keel Linux tree's):"},
	} {
		out, stderr, code := keel(t, context.Background(), tc.args...)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("keel %v: exit %d, want %d and %q:\n%s%s", tc.args, code, tc.code, tc.want, out, stderr)
		}
	}
}
