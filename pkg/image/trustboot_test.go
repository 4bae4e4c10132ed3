package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelWithoutIPE: an image asking for IPE (or a kernel-checked root
// hash) on a kernel built without it fails at build time, naming the option
// and the config file it read.
func TestKernelWithoutIPE(t *testing.T) {
	dir := t.TempDir()
	mod := "usr/lib/modules/6.1.0-56-cloud-amd64"
	os.MkdirAll(filepath.Join(dir, mod), 0o755)
	cfg := "CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG=y\n# CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG_PLATFORM_KEYRING is not set\nCONFIG_LSM=\"landlock,lockdown,yama,apparmor,bpf\"\n"
	os.WriteFile(filepath.Join(dir, mod, "config"), []byte(cfg), 0o644)
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &Definition{Name: "g", IPE: "enforce", Kernel: &Kernel{Package: "kernel"}}
	if _, err := ipePolicy(d, r, mod, Options{}, &BootInfo{}); err == nil || !strings.Contains(err.Error(), "CONFIG_SECURITY_IPE=y, but the kernel 6.1.0-56-cloud-amd64 has CONFIG_SECURITY_IPE=n (/"+mod+"/config)") {
		t.Errorf("IPE on a kernel without it: %v", err)
	}
	if _, err := kernelRootHashSig(r, mod, Options{}, [32]byte{}); err == nil || !strings.Contains(err.Error(), "CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG_PLATFORM_KEYRING=y") {
		t.Errorf("kernel-checked root hash on a kernel without the platform keyring: %v", err)
	}
	// IPE built in but left out of lsm=.
	cfg = "CONFIG_SECURITY_IPE=y\nCONFIG_IPE_PROP_DM_VERITY_SIGNATURE=y\nCONFIG_IPE_POLICY_SIG_PLATFORM_KEYRING=y\nCONFIG_LSM=\"landlock,ipe\"\n"
	os.WriteFile(filepath.Join(dir, mod, "config"), []byte(cfg), 0o644)
	d.Kernel.Cmdline = []string{"lsm=landlock,selinux"}
	if _, err := ipePolicy(d, r, mod, Options{}, &BootInfo{}); err == nil || !strings.Contains(err.Error(), "add ipe to lsm=") {
		t.Errorf("IPE not in lsm=: %v", err)
	}
}
