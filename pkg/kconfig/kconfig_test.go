package kconfig

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestParse(t *testing.T) {
	c, err := Parse(strings.NewReader("#\n# Automatically generated\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x y\"\nCONFIG_E=7\n\n"), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_C": "n", "CONFIG_D": `"x y"`, "CONFIG_E": "7", "CONFIG_ZZ": "n"} {
		if c.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, c.Get(k), v)
		}
	}
	for _, bad := range []string{"CONFIG_A y\n", "FOO=y\n", "# CONFIG_A B is not set\n"} {
		if _, err := Parse(strings.NewReader("CONFIG_OK=y\n"+bad), "cfg"); err == nil || !strings.Contains(err.Error(), "cfg:2:") {
			t.Errorf("Parse(%q) = %v, want an error at cfg:2", bad, err)
		}
	}
}

func TestDiff(t *testing.T) {
	a := Config{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_C": "n"}
	b := Config{"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_D": "m"}
	got := Diff(a, b)
	want := []Change{{"CONFIG_B", "m", "y"}, {"CONFIG_C", "n", ""}, {"CONFIG_D", "", "m"}}
	if len(got) != len(want) {
		t.Fatalf("Diff = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Diff[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestKeelPolicy(t *testing.T) {
	p, err := ParseKeelPolicy([]byte("name: t\noptions:\n  - option: CONFIG_A\n    values: [y, m]\n    why: needed\n  - option: CONFIG_B\n    values: [n]\n    arch: [aarch64]\n    why: arm only\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(Config{"CONFIG_A": "m", "CONFIG_B": "y"}, p, "x86_64")
	if len(fs) != 1 || fs[0].Status != StatusPass {
		t.Errorf("findings %+v", fs)
	}
	for _, bad := range []string{"options:\n  - option: A\n    values: [y]\n    why: x\n", "options:\n  - option: CONFIG_A\n    values: [y]\n", "bogus: 1\n"} {
		if _, err := ParseKeelPolicy([]byte(bad), "p.yaml"); err == nil || !strings.Contains(err.Error(), "p.yaml") {
			t.Errorf("ParseKeelPolicy(%q) = %v", bad, err)
		}
	}
}

// Azure Linux's real policy against Debian's real 6.1 cloud kernel config:
// the Debian build lacks options Azure Linux requires (CONFIG_SCHED_CORE),
// and the checker must say so rather than pass.
func TestAzureLinuxPolicyOnDebianKernel(t *testing.T) {
	testenv.RequireTool(t, "dpkg-deb")
	policy := testenv.RequireShared(t, "data/azurelinux-kernel-policy/azl3-os-required-kernel-configs.json")
	deb := testenv.RequireShared(t, "lookaside/linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb")
	data, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	def, err := ParseAzureLinuxPolicy(data, policy, "default")
	if err != nil {
		t.Fatal(err)
	}
	hwe, err := ParseAzureLinuxPolicy(data, policy, "kernel-hwe")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(Check(Config{}, def, "x86_64")); n < 150 {
		t.Errorf("only %d x86_64 rules in the default list", n)
	}
	if len(hwe.Rules) < len(def.Rules) {
		t.Errorf("hwe policy (%d rules) smaller than default (%d)", len(hwe.Rules), len(def.Rules))
	}
	if _, err := ParseAzureLinuxPolicy(data, policy, "kernel-rt"); err == nil || !strings.Contains(err.Error(), "kernel-hwe") {
		t.Errorf("unknown flavour: %v", err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "boot", "config-6.1.0-56-cloud-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := Parse(f, "config-6.1.0-56-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(cfg, def, "x86_64")
	sum := Summary(fs)
	t.Logf("Azure Linux default policy on Debian 6.1 cloud: %v", sum)
	if sum[StatusPass] == 0 || sum[StatusMissing]+sum[StatusMismatch] == 0 {
		t.Errorf("implausible result %v", sum)
	}
	for _, f := range fs {
		if f.Option == "CONFIG_SCHED_CORE" && f.Status == StatusPass {
			t.Error("CONFIG_SCHED_CORE reported present; Debian 6.1 cloud lacks it")
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("CONFIG_A=y\n# CONFIG_B is not set\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(strings.NewReader(string(data)), "fuzz")
	})
}

func FuzzParseAzureLinuxPolicy(f *testing.F) {
	f.Add([]byte(`{"default":{"name":"default","kernel_configs":[{"name":"CONFIG_A","values":[{"architecture":"x86_64","value":"y"}]}]},"overrides":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseAzureLinuxPolicy(data, "fuzz", "default")
	})
}

// Keel Linux's own policy parses, and both imported kernels meet it.
func TestKeelLinuxPolicyOnItsKernels(t *testing.T) {
	testenv.RequireTool(t, "dpkg-deb")
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "distro", "kernel-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseKeelPolicy(data, "kernel-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, deb := range []string{
		"lookaside/linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
		"lookaside/linux-image-6.12.95+deb12-cloud-amd64_6.12.95-1~bpo12+1_amd64.deb",
	} {
		path := testenv.RequireShared(t, deb)
		dir := t.TempDir()
		if out, err := exec.Command("sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" ./boot/", "sh", path, dir).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		cfgs, _ := filepath.Glob(filepath.Join(dir, "boot", "config-*"))
		if len(cfgs) != 1 {
			t.Fatalf("%s: configs %v", deb, cfgs)
		}
		data, _ := os.ReadFile(cfgs[0])
		cfg, err := Parse(strings.NewReader(string(data)), cfgs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range Check(cfg, p, "x86_64") {
			if f.Status != StatusPass {
				t.Errorf("%s: %s = %s, want %v (%s)", filepath.Base(cfgs[0]), f.Option, f.Got, f.Want, f.Why)
			}
		}
	}
}
