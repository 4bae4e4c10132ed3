package image

// The guard's chain of trust past the UKI (docs/boot.md): the root hash
// signed as PKCS#7 with the Secure Boot key, for the kernel to verify
// against the platform keyring when the verity table loads.

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/initramfs"
	"github.com/keel-linux/keel/pkg/ipe"
	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/kernelsig"
	"github.com/keel-linux/keel/pkg/verity"
)

// rootHashSigPath is where keel-init (keyring.go) reads the signature.
const rootHashSigPath = "/etc/keel/roothash.p7s"

// kernelConfig reads the image kernel's configuration (kernel-install
// layout: /usr/lib/modules/<release>/config).
func kernelConfig(r *os.Root, modDir string) (kconfig.Config, string, error) {
	p := path.Join(modDir, "config")
	b, err := readIn(r, p, 16<<20)
	if err != nil {
		return nil, p, fmt.Errorf("the kernel's configuration /%s: %w (the kernel package must ship it)", p, err)
	}
	c, err := kconfig.Parse(bytes.NewReader(b), "/"+p)
	return c, p, err
}

// kernelLSMs is the LSM list the kernel starts: the last lsm= of the command
// line, else its CONFIG_LSM; where says which of the two it came from.
func kernelLSMs(c kconfig.Config, cmdline []string) (lsms, where string) {
	lsms, where = strings.Trim(c.Get("CONFIG_LSM"), `"`), "its default CONFIG_LSM"
	for _, a := range cmdline {
		if v, ok := strings.CutPrefix(a, "lsm="); ok {
			lsms, where = v, "kernel.cmdline's lsm="
		}
	}
	return lsms, where
}

// requireKernelOptions fails naming the first option of want that the
// image's kernel lacks, and what it is for.
func requireKernelOptions(r *os.Root, modDir, what string, want ...string) error {
	c, p, err := kernelConfig(r, modDir)
	if err != nil {
		return err
	}
	for _, o := range want {
		if c.Get(o) != "y" {
			return fmt.Errorf("%s needs %s=y, but the kernel %s has %s=%s (/%s): choose a kernel with it (kernel-hwe, 6.12)",
				what, o, path.Base(modDir), o, c.Get(o), p)
		}
	}
	return nil
}

// kernelRootHashSig signs the root hash for the kernel (detached PKCS#7, the
// Secure Boot key) and returns it as the initramfs file keel-init loads.
func kernelRootHashSig(r *os.Root, modDir string, opt Options, rh verity.RootHash) (initramfs.File, error) {
	if err := requireKernelOptions(r, modDir, "a verity root whose signature the kernel checks",
		"CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG", "CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG_PLATFORM_KEYRING"); err != nil {
		return initramfs.File{}, err
	}
	s, err := kernelsig.Load(opt.SecureBootKey, opt.SecureBootCert)
	if err != nil {
		return initramfs.File{}, err
	}
	sig, err := s.Detached(rh.SignedMessage())
	if err != nil {
		return initramfs.File{}, err
	}
	if _, err := kernelsig.Verify(sig, rh.SignedMessage(), s.Cert); err != nil {
		return initramfs.File{}, fmt.Errorf("root hash signature: %w", err)
	}
	return initramfs.File{Path: rootHashSigPath, Data: sig}, nil
}

// IPEInfo is what the manifest records of the IPE policy, and what the boot
// gate then requires keel-init to report from securityfs.
type IPEInfo struct {
	Mode    string `json:"mode"` // audit | enforce
	Policy  string `json:"policy"`
	Version string `json:"version"`
}

// ipePolicyVersion is the generated policy's version. IPE refuses to replace
// an active policy by an older version; each boot starts with none active.
const ipePolicyVersion = "1.0.0"

// validateIPE: the mode is audit or enforce, and the image is a bootable one
// with a verity root (the policy lets code run only from signed dm-verity
// devices and the initramfs: on any other root nothing would run).
func (d *Definition) validateIPE() error {
	if d.IPE == "" {
		return nil
	}
	if _, err := ipe.ParseMode(d.IPE); err != nil {
		return ferr("ipe", "%v", err)
	}
	if d.Kind != "bootable" {
		return ferr("ipe", "IPE is for bootable images (a container runs on its host's kernel)")
	}
	l, err := planBoot(d)
	if err != nil {
		return err
	}
	if !l.verity {
		return ferr("ipe", "IPE needs a dm-verity root (partitions: verity: true): its policy runs code only from signed verity devices")
	}
	return nil
}

// ipePolicy generates and signs the image's IPE policy (attached PKCS#7, the
// Secure Boot key, which the kernel finds in its platform keyring) and
// returns the initramfs files keel-init (ipe.go) deploys: the policy and
// ipe.conf. The kernel must have IPE with the dm-verity signature property,
// and the command line must not leave it out of lsm=.
func ipePolicy(d *Definition, r *os.Root, modDir string, opt Options, info *BootInfo) ([]initramfs.File, error) {
	if d.IPE == "" {
		return nil, nil
	}
	mode, err := ipe.ParseMode(d.IPE)
	if err != nil {
		return nil, ferr("ipe", "%v", err)
	}
	if err := requireKernelOptions(r, modDir, "ipe: "+d.IPE, "CONFIG_SECURITY_IPE", "CONFIG_IPE_PROP_DM_VERITY_SIGNATURE",
		"CONFIG_IPE_POLICY_SIG_PLATFORM_KEYRING"); err != nil {
		return nil, err
	}
	c, _, err := kernelConfig(r, modDir)
	if err != nil {
		return nil, err
	}
	lsms, _ := kernelLSMs(c, d.Kernel.Cmdline)
	if !slices.Contains(strings.Split(lsms, ","), "ipe") {
		return nil, ferr("kernel.cmdline", "ipe: %s, but the LSMs the kernel starts (%s) leave IPE out: add ipe to lsm=", d.IPE, lsms)
	}
	p := ipe.VerifiedOnly("keel-"+d.Name, ipePolicyVersion)
	text, err := p.Text()
	if err != nil {
		return nil, err
	}
	s, err := kernelsig.Load(opt.SecureBootKey, opt.SecureBootCert)
	if err != nil {
		return nil, err
	}
	sig, err := s.Attached(text)
	if err != nil {
		return nil, err
	}
	if got, err := kernelsig.Verify(sig, nil, s.Cert); err != nil || !bytes.Equal(got, text) {
		return nil, fmt.Errorf("IPE policy signature: %v", err)
	}
	info.IPE = &IPEInfo{Mode: string(mode), Policy: p.Name, Version: p.Version}
	return []initramfs.File{
		{Path: "/etc/keel/ipe.p7s", Data: sig},
		{Path: "/etc/keel/ipe.conf", Data: []byte("name=" + p.Name + "\nmode=" + string(mode) + "\n")},
	}, nil
}

// TrustExpect is what a guard booted under Secure Boot (its db certificate
// enrolled) must report on top of BootExpect: the kernel checked the root
// hash signature, and the IPE policy is active in its mode with
// CAP_MAC_ADMIN gone when it enforces. Manifest.BootPlan adds it, so keel
// boot and the release's boot gate require it. (SELinux facts join here.)
func (m *Manifest) TrustExpect() []boot.Expectation {
	if m.Boot == nil || m.Boot.RootHash == "" {
		return nil
	}
	ex := []string{"initrd.verity.signature=kernel"}
	if p := m.Boot.IPE; p != nil {
		ex = append(ex, "initrd.ipe=active", "ipe.mode="+p.Mode, "ipe.policy="+p.Policy+" "+p.Version, "lsm~=(^|,)ipe(,|$)")
		if p.Mode == string(ipe.Enforce) {
			ex = append(ex, "cap.bounding.mac_admin=dropped")
		}
	}
	return boot.MustExpect(ex...)
}
