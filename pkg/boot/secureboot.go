package boot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// KeelOwnerGUID owns the keys Keel enrolls (EFI signature owner field).
const KeelOwnerGUID = "6b65656c-0000-4000-8000-6b65656c0001"

// EnrollVars writes an OVMF vars file (from template, default OVMFVars) with
// cert (PEM) enrolled as PK, KEK and db and Secure Boot switched on, using
// virt-fw-vars (python3-virt-firmware, bookworm-backports). Microsoft's keys
// are not enrolled: only images signed with our key boot.
func EnrollVars(ctx context.Context, template, certPEM, out string) error {
	if template == "" {
		template = OVMFVars
	}
	if _, err := os.Stat(certPEM); err != nil {
		return fmt.Errorf("boot: enroll: certificate: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "virt-fw-vars", "-i", template, "-o", tmp,
		"--set-pk", KeelOwnerGUID, certPEM, "--add-kek", KeelOwnerGUID, certPEM,
		"--add-db", KeelOwnerGUID, certPEM, "--no-microsoft", "--sb")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("boot: virt-fw-vars: %v: %s", err, bytes.TrimSpace(o))
	}
	return os.Rename(tmp, out)
}
