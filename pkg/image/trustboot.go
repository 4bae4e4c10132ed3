package image

// The guard's chain of trust past the UKI (docs/boot.md): the root hash
// signed as PKCS#7 with the Secure Boot key, for the kernel to verify
// against the platform keyring when the verity table loads.

import (
	"bytes"
	"fmt"
	"os"
	"path"

	"github.com/keel-linux/keel/pkg/initramfs"
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
