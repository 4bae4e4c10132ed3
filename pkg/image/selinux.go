package image

// SELinux in bootable images (the definition's selinux: key): the
// distribution's CIL policy (distro/selinux) compiled with secilc, installed
// under /etc/selinux, the root's files labelled from its file contexts
// (mkfs.erofs --file-contexts; debugfs for ext4), and the kernel checked for
// SELinux before anything is written. keel-init loads the policy at boot.

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/keel-linux/keel/pkg/selinux"
)

// SELinuxInfo is what the manifest records and the boot harness asserts.
type SELinuxInfo struct {
	Mode          string `json:"mode"`           // permissive | enforcing
	PolicyVersion int    `json:"policy_version"` // binary format (policy.33)
	PolicySHA256  string `json:"policy_sha256"`  // the file keel-init loads
}

// wantSELinux reports whether the image ships a policy.
func (d *Definition) wantSELinux() bool { return d.SELinux != "" && d.SELinux != "disabled" }

// policyDir is where the definition's policy sources are: opt.SELinuxPolicy,
// else the tree's selinux/ beside its images/ directory.
func policyDir(d *Definition, opt Options) string {
	if opt.SELinuxPolicy != "" {
		return opt.SELinuxPolicy
	}
	return filepath.Join(filepath.Dir(d.Path()), "..", "selinux")
}

// withSELinux compiles the policy and returns a copy of d whose files add
// the policy, its file contexts and /etc/selinux/config, and what the
// manifest records. A policy that does not compile stops the build before
// anything is installed.
func withSELinux(ctx context.Context, d *Definition, opt Options) (*Definition, *SELinuxInfo, error) {
	if !d.wantSELinux() {
		return d, nil, nil
	}
	p, err := selinux.Compile(ctx, policyDir(d, opt))
	if err != nil {
		return nil, nil, fmt.Errorf("selinux: %w", err)
	}
	c := *d
	c.Files = append(append([]File(nil), d.Files...),
		File{Path: selinux.ConfigPath, Content: string(selinux.Config(d.SELinux))},
		File{Path: selinux.PolicyPath, Content: string(p.Binary)},
		File{Path: selinux.FileContextsPath, Content: string(p.FileContexts)})
	return &c, &SELinuxInfo{Mode: d.SELinux, PolicyVersion: selinux.PolicyVersion, PolicySHA256: p.SHA256}, nil
}

// checkSELinuxKernel refuses an image asking for SELinux whose kernel has
// none or whose command line would not start it: a host that boots
// unprotected must never be built.
func checkSELinuxKernel(d *Definition, r *os.Root, modDir string) error {
	if !d.wantSELinux() {
		return nil
	}
	opts, _, err := kernelConfig(r, modDir)
	if err != nil {
		return fmt.Errorf("selinux: %s: cannot read the kernel's config to check it has SELinux: %w", d.SELinux, err)
	}
	rel := path.Base(modDir)
	if opts.Get("CONFIG_SECURITY_SELINUX") != "y" {
		return fmt.Errorf("selinux: %s: kernel %s (%s) is built without SELinux (CONFIG_SECURITY_SELINUX is not y)", d.SELinux, rel, d.Kernel.Package)
	}
	lsm, where := kernelLSMs(opts, d.Kernel.Cmdline)
	// SELinux, AppArmor, Smack and TOMOYO exclude each other: the first of
	// them in the list is the one that starts.
	for _, m := range strings.Split(lsm, ",") {
		switch m {
		case "selinux":
			return nil
		case "apparmor", "smack", "tomoyo":
			return fmt.Errorf("selinux: %s: kernel %s would start %s, not SELinux (%s is %q): add lsm=...,selinux,... (without %s) to kernel.cmdline", d.SELinux, rel, m, where, lsm, m)
		}
	}
	return fmt.Errorf("selinux: %s: kernel %s would not start SELinux (%s is %q): add selinux to lsm= in kernel.cmdline", d.SELinux, rel, where, lsm)
}

// selinuxCmdline is what the kernel command line adds: enforcing=1 makes
// the kernel enforce from the moment keel-init loads the policy (keel-init
// also sets it from /etc/selinux/config when a loader dropped it).
func selinuxCmdline(d *Definition) []string {
	if d.SELinux == "enforcing" {
		return []string{"enforcing=1"}
	}
	return nil
}
