package selinux

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

func distroPolicy() string { return filepath.Join(testenv.RepoRoot(), "distro", "selinux") }

// copyPolicy copies the distro policy into a temporary directory, with
// extra files added.
func copyPolicy(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	srcs, err := Sources(distroPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		rel, _ := filepath.Rel(distroPolicy(), s)
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, c := range extra {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDistroPolicy(t *testing.T) {
	testenv.RequireTool(t, "secilc")
	p, err := Compile(context.Background(), distroPolicy())
	if err != nil {
		t.Fatal(err)
	}
	// The binary policy's magic (SELinux, little-endian) and version.
	if len(p.Binary) < 16 || string(p.Binary[8:16]) != "SE Linux" {
		t.Fatalf("not a binary policy: % x", p.Binary[:16])
	}
	fc, err := ParseFileContexts("file_contexts", p.FileContexts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		mode fs.FileMode
		want string
	}{
		{"/", fs.ModeDir, "root_t"},
		{"/usr/sbin/keel-init", 0, "init_exec_t"},
		{"/usr/sbin/init", fs.ModeSymlink, "bin_t"},
		{"/usr/bin/busybox", 0, "bin_t"},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", 0, "lib_t"},
		{"/usr/lib64/ld-linux-x86-64.so.2", fs.ModeSymlink, "lib_t"},
		{"/etc/os-release", 0, "etc_t"},
		{"/etc/shadow", 0, "shadow_t"},
		{"/etc/selinux/keel/policy/policy.33", 0, "selinux_config_t"},
		{"/usr/lib/keel/health.d/10-shell", 0, "keel_health_exec_t"},
		{"/dev/null", fs.ModeDevice | fs.ModeCharDevice, "null_device_t"},
		{"/dev/vda", fs.ModeDevice, "device_t"},
		{"/var/lib/rpm", fs.ModeDir, "var_t"},
	} {
		ctx, ok := fc.Lookup(tc.path, tc.mode)
		if !ok || !strings.HasSuffix(ctx, ":"+tc.want) {
			t.Errorf("%s: %q, %v; want type %s", tc.path, ctx, ok, tc.want)
		}
	}
	if !p.ServiceDomains["keel_health_t"] || p.ServiceDomains["kernel_t"] || p.ServiceDomains["unconfined_t"] || len(p.ServiceDomains) != 1 {
		t.Errorf("service domains %v, want keel_health_t only", p.ServiceDomains)
	}
	if d := ServiceDomain("keel-agent"); d != "keel_agent_t" {
		t.Errorf("ServiceDomain(keel-agent) = %s", d)
	}
	// Reproducible: the same sources give the same bytes.
	p2, err := Compile(context.Background(), distroPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if p2.SHA256 != p.SHA256 {
		t.Errorf("two compiles differ: %s %s", p.SHA256, p2.SHA256)
	}
}

// TestPolicyRefused: sources that must not become a policy.
func TestPolicyRefused(t *testing.T) {
	testenv.RequireTool(t, "secilc")
	for _, tc := range []struct{ name, file, src, want string }{
		{"label names a type the policy lacks", "zz.cil", "(filecon \"/opt(/.*)?\" any (system_u object_r opt_t s0s0))\n",
			`zz.cil:1: SELinux policy does not compile: (filecon "/opt(/.*)?" any (system_u object_r opt_t s0s0))`},
		{"syntax", "zz.cil", "(type broken_t\n", "zz.cil:2: SELinux policy does not compile"},
		{"a domain granted setenforce", "zz.cil", "(type evil_t)\n(call service_domain (evil_t))\n(allow evil_t security_t (security (setenforce)))\n",
			"SELinux policy does not compile"},
		{"the unconfined login granted load_policy", "zz.cil", "(allow unconfined_t security_t (security (load_policy)))\n",
			"neverallow check failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyPolicy(t, map[string]string{tc.file: tc.src})
			_, err := Compile(context.Background(), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Compile(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .cil files") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestParseFileContexts(t *testing.T) {
	fc, err := ParseFileContexts("fc", []byte("# comment\n/.*\tu:r:root_t\n/etc(/.*)?\tu:r:etc_t:s0\n/etc/shadow\t--\tu:r:shadow_t\n/dev/pts(/.*)?\t<<none>>\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		mode       fs.FileMode
		ok         bool
	}{
		{"/etc/shadow", "u:r:shadow_t", 0, true},
		{"/etc/shadow", "u:r:etc_t:s0", fs.ModeDir, true},
		{"/etc", "u:r:etc_t:s0", fs.ModeDir, true},
		{"/etcx", "u:r:root_t", 0, true},
		{"/dev/pts/0", "", fs.ModeCharDevice | fs.ModeDevice, true},
	} {
		got, ok := fc.Lookup(tc.path, tc.mode)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := (&FileContexts{}).Lookup("/x", 0); ok {
		t.Error("empty file contexts matched")
	}
	for _, tc := range []struct{ in, want string }{
		{"/a\n", "fc:1: want REGEX [-TYPE] CONTEXT, got 1 fields"},
		{"\n/a -x u:r:t\n", `fc:2: file type "-x"`},
		{"/a u:r\n", `fc:1: context "u:r"`},
		{"a u:r:t\n", `fc:1: "a": a path expression starts with /`},
		{"/a( u:r:t\n", `fc:1: path expression "/a("`},
		{"/a -- u:r:t extra\n", "got 4 fields"},
	} {
		if _, err := ParseFileContexts("fc", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseFileContexts(f *testing.F) {
	f.Add([]byte("/.*\tsystem_u:object_r:root_t\n/etc(/.*)?\t--\tsystem_u:object_r:etc_t:s0\n"))
	f.Add([]byte("/dev/(null|zero)\t-c\t<<none>>\n# x\n"))
	f.Add([]byte("/a[ u:r:t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, err := ParseFileContexts("fuzz", data)
		if err != nil {
			return
		}
		for _, p := range []string{"/", "/etc/x", "/dev/null"} {
			fc.Lookup(p, 0)
			fc.Lookup(p, fs.ModeDir)
		}
	})
}
