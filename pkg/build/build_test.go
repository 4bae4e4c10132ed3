package build

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
)

const tinyConfig = `name: tiny
pretty_name: Tiny
version: "1.0"
dist_tag: .t1
arch: x86_64
vendor: Test
source_date_epoch: changelog
build:
  jobs: 2
`

// tinySpec is a noarch package that builds in a fraction of a second;
// body is inserted into %build.
func tinySpec(name, extra, body string) string {
	return `Name: ` + name + `
Version: 1.0
Release: 1%{?dist}
Summary: test package ` + name + `
License: MIT
BuildArch: noarch
` + extra + `
%description
Test package.

%prep

%build
` + body + `

%install
mkdir -p %{buildroot}/usr/share/` + name + `
echo ` + name + ` > %{buildroot}/usr/share/` + name + `/data

%files
/usr/share/` + name + `

%changelog
* Mon Jan 05 2026 Test <t@example.invalid> - 1.0-1
- test
`
}

// writeTree writes a distribution tree with the given specs (name -> content).
func writeTree(t *testing.T, specs map[string]string) *distro.Distro {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keel.yaml"), []byte(tinyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range specs {
		sd := filepath.Join(dir, "SPECS", name)
		os.MkdirAll(sd, 0o755)
		if err := os.WriteFile(filepath.Join(sd, name+".spec"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := distro.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func requireBuildTools(t *testing.T) {
	testenv.RequireTool(t, "rpmbuild", "bwrap", "rpm2cpio", "cpio")
}

// A failing package fails alone: independent packages still build, its
// dependents are skipped, and the error names the package and its log.
func TestFailureIsolation(t *testing.T) {
	requireBuildTools(t)
	d := writeTree(t, map[string]string{
		"alpha": tinySpec("alpha", "", "true"),
		"bravo": tinySpec("bravo", "", "echo 'deliberate failure' >&2; exit 3"),
		"charl": tinySpec("charl", "BuildRequires: bravo", "true"),
		"delta": tinySpec("delta", "BuildRequires: alpha", "true"),
	})
	cache, out := t.TempDir(), t.TempDir()
	res, err := Run(context.Background(), Options{Distro: d, Cache: cache, Out: out})
	if err == nil {
		t.Fatal("build with a failing package succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"bravo: rpmbuild failed", "deliberate failure", "log: ", "charl: not built: build dependency bravo failed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	got := map[string]*Package{}
	for _, p := range res.Packages {
		got[p.Name] = p
	}
	if got["alpha"].Error != "" || got["delta"].Error != "" {
		t.Errorf("independent packages failed: alpha=%q delta=%q", got["alpha"].Error, got["delta"].Error)
	}
	if _, err := os.Stat(got["bravo"].Log); err != nil {
		t.Errorf("failed package's log %q missing: %v", got["bravo"].Log, err)
	}
	if rpms, _ := filepath.Glob(filepath.Join(out, "rpms", "noarch", "*.rpm")); len(rpms) != 2 {
		t.Errorf("out/rpms has %d RPMs, want alpha and delta: %v", len(rpms), rpms)
	}
	if _, err := os.Stat(filepath.Join(out, "logs", "bravo.log")); err != nil {
		t.Errorf("out/logs/bravo.log missing: %v", err)
	}
}

func TestIncremental(t *testing.T) {
	requireBuildTools(t)
	d := writeTree(t, map[string]string{
		"alpha": tinySpec("alpha", "", "true"),
		"bravo": tinySpec("bravo", "BuildRequires: alpha", "true"),
		"charl": tinySpec("charl", "", "true"),
	})
	cache, out := t.TempDir(), t.TempDir()
	run := func() map[string]bool {
		t.Helper()
		res, err := Run(context.Background(), Options{Distro: d, Cache: cache, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		built := map[string]bool{}
		for _, p := range res.Packages {
			if !p.Cached {
				built[p.Name] = true
			}
		}
		return built
	}
	if b := run(); len(b) != 3 {
		t.Fatalf("cold build built %v, want all three", b)
	}
	if b := run(); len(b) != 0 {
		t.Fatalf("no-op build rebuilt %v", b)
	}
	// Changing alpha's spec rebuilds alpha and bravo (which build-requires
	// it) only if alpha's RPM changed, which it does: its content changes.
	p := filepath.Join(d.SpecsDir(), "alpha", "alpha.spec")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(data, []byte("echo alpha >"), []byte("echo alpha-2 >"), 1), 0o644)
	b := run()
	if !b["alpha"] || !b["bravo"] || b["charl"] || len(b) != 2 {
		t.Fatalf("after changing alpha rebuilt %v, want alpha and bravo", b)
	}
}

func TestBadInput(t *testing.T) {
	requireBuildTools(t)
	for _, tc := range []struct {
		name  string
		specs map[string]string
		files map[string]string // path under the tree -> content
		want  []string
	}{
		{
			name:  "broken spec",
			specs: map[string]string{"alpha": "Name: alpha\nVersion: 1\n%if 1\n"},
			want:  []string{"alpha.spec", "reading specs"},
		},
		{
			name:  "name mismatch",
			specs: map[string]string{"alpha": strings.Replace(tinySpec("alpha", "", "true"), "Name: alpha", "Name: other", 1)},
			want:  []string{"alpha.spec", `Name is "other"`},
		},
		{
			name:  "unknown macro rpm refuses",
			specs: map[string]string{"alpha": tinySpec("alpha", "BuildRequires: %{alpha_helper}", "true")},
			want:  []string{"alpha.spec:7:", "dependency tokens must begin with", "%{alpha_helper}"},
		},
		{
			name:  "unknown macro rpm keeps",
			specs: map[string]string{"alpha": tinySpec("alpha", "Provides: alpha-%{alpha_helper}", "true")},
			want:  []string{"alpha.spec:7:", `unexpanded macro "%{alpha_helper}"`, "unknown macro"},
		},
		{
			name:  "missing source",
			specs: map[string]string{"alpha": tinySpec("alpha", "Source0: alpha-1.0.tar.gz", "true")},
			files: map[string]string{"SPECS/alpha/alpha.signatures.json": `{"Signatures": {"alpha-1.0.tar.gz": "` + strings.Repeat("ab", 32) + `"}}`},
			want:  []string{"alpha: alpha-1.0.tar.gz not found", "lookaside"},
		},
		{
			name:  "sha256 mismatch",
			specs: map[string]string{"alpha": tinySpec("alpha", "Source0: alpha-1.0.tar.gz", "true")},
			files: map[string]string{
				"SPECS/alpha/alpha.signatures.json": `{"Signatures": {"alpha-1.0.tar.gz": "` + strings.Repeat("ab", 32) + `"}}`,
				"lookaside/alpha-1.0.tar.gz":        "not the pinned bytes",
			},
			want: []string{"alpha: alpha-1.0.tar.gz from", "has sha256", "pinned " + strings.Repeat("ab", 32), "keel sources pin alpha"},
		},
		{
			name:  "malformed pins",
			specs: map[string]string{"alpha": tinySpec("alpha", "", "true")},
			files: map[string]string{"SPECS/alpha/alpha.signatures.json": "{\n \"Signatures\": {\"a\": 1}\n}"},
			want:  []string{"alpha.signatures.json", "line 2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := writeTree(t, tc.specs)
			for p, c := range tc.files {
				full := filepath.Join(d.Dir, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				os.WriteFile(full, []byte(c), 0o644)
			}
			t.Setenv("KEEL_LOOKASIDE", filepath.Join(d.Dir, "lookaside"))
			out := t.TempDir()
			_, err := Run(context.Background(), Options{Distro: d, Cache: t.TempDir(), Out: out, Offline: true})
			if err == nil {
				t.Fatal("bad input accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if rpms, _ := filepath.Glob(filepath.Join(out, "rpms", "*", "*.rpm")); len(rpms) != 0 {
				t.Errorf("bad input left RPMs in out/: %v", rpms)
			}
		})
	}
}

// TestKill9 kills a build in the middle of rpmbuild and checks that the
// cache holds no entry for the interrupted package and the next run
// completes normally.
func TestKill9(t *testing.T) {
	requireBuildTools(t)
	if os.Getenv("KEEL_BUILD_SUBPROCESS") != "" {
		d, err := distro.Load(os.Getenv("KEEL_TREE"))
		if err != nil {
			t.Fatal(err)
		}
		ctx := logctx.WithLogger(context.Background(), slog.New(slog.NewJSONHandler(markStart{"slow", os.Getenv("KEEL_MARK")}, nil)))
		_, err = Run(ctx, Options{Distro: d, Cache: os.Getenv("KEEL_CACHE_DIR"), Out: os.Getenv("KEEL_OUT_DIR")})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	d := writeTree(t, map[string]string{
		"fast": tinySpec("fast", "", "true"),
		"slow": tinySpec("slow", "BuildRequires: fast", `[ -e /build/SOURCES/go-fast ] || sleep 30`),
	})
	cache, out, mark := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "mark")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKill9$")
	cmd.Env = append(os.Environ(), "KEEL_BUILD_SUBPROCESS=1", "KEEL_TREE="+d.Dir, "KEEL_CACHE_DIR="+cache, "KEEL_OUT_DIR="+out, "KEEL_MARK="+mark)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("subprocess never started building slow")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // into rpmbuild
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()

	entries, _ := filepath.Glob(filepath.Join(cache, "builds", "*"))
	for _, e := range entries {
		if _, err := readMeta(e); err != nil {
			t.Errorf("cache entry %s is not complete after kill -9: %v", e, err)
		}
	}
	// Let slow finish quickly now: a local source file makes the sleep a no-op
	// (and changes slow's key, as a real edit would).
	os.WriteFile(filepath.Join(d.SpecsDir(), "slow", "go-fast"), []byte("1"), 0o644)
	res, err := Run(context.Background(), Options{Distro: d, Cache: cache, Out: out})
	if err != nil {
		t.Fatalf("build after kill -9: %v", err)
	}
	for _, p := range res.Packages {
		if p.Name == "fast" && !p.Cached {
			t.Error("fast was rebuilt: its cache entry did not survive the kill")
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "builds", ".tmp-*")); len(left) != 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).Unix()
	s := &Spec{Path: "x.spec", ChangelogTime: noon}
	got, err := s.sourceDateEpoch(distro.SourceDateEpoch{FromChangelog: true}, now)
	if err != nil || got != time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("today's entry: %d %v, want the day's start", got, err)
	}
	s.ChangelogTime = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Unix()
	if _, err := s.sourceDateEpoch(distro.SourceDateEpoch{FromChangelog: true}, now); err == nil || !strings.Contains(err.Error(), "in the future") {
		t.Errorf("tomorrow's entry: %v", err)
	}
	if got, _ := s.sourceDateEpoch(distro.SourceDateEpoch{Fixed: 42}, now); got != 42 {
		t.Errorf("fixed: %d", got)
	}
}

// markStart writes file when a JSON line says step started.
type markStart struct{ step, file string }

func (m markStart) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"step":"`+m.step+`"`)) && bytes.Contains(p, []byte(`"state":"start"`)) {
		os.WriteFile(m.file, []byte("started"), 0o644)
	}
	return len(p), nil
}
