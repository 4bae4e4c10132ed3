package boot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Seed makes provisioning media from path for a boot, written into dir:
//   - a directory with meta-data (and user-data): a NoCloud "cidata" ISO
//     made by cloud-localds, as cloud users make it;
//   - a directory with ovf-env.xml: Azure's provisioning media, a UDF/ISO
//     9660 disc made by genisoimage;
//   - an ISO 9660 or FAT image file: used as it is.
//
// The result is attached read-only (Options.Seeds).
func Seed(ctx context.Context, path, dir string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("boot: seed: %w", err)
	}
	if !fi.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("boot: seed: %w", err)
		}
		defer f.Close()
		if !isSeedImage(f) {
			return "", fmt.Errorf("boot: seed %s: not an ISO 9660 or FAT image (give a directory with meta-data and user-data, or with ovf-env.xml, or a cidata image made by cloud-localds)", path)
		}
		return path, nil
	}
	has := func(n string) bool {
		st, err := os.Stat(filepath.Join(path, n))
		return err == nil && st.Mode().IsRegular()
	}
	out := filepath.Join(dir, "seed.iso")
	switch {
	case has("meta-data"):
		user := filepath.Join(path, "user-data")
		if !has("user-data") {
			user = filepath.Join(dir, "user-data")
			if err := os.WriteFile(user, nil, 0o600); err != nil {
				return "", err
			}
		}
		return out, runTool(ctx, "cloud-localds", out, user, filepath.Join(path, "meta-data"))
	case has("ovf-env.xml"):
		return out, runTool(ctx, "genisoimage", "-quiet", "-o", out, "-udf", "-R", "-V", "OVF_ENV", "-graft-points", "ovf-env.xml="+filepath.Join(path, "ovf-env.xml"))
	}
	return "", fmt.Errorf("boot: seed %s: the directory has neither meta-data (NoCloud: meta-data and user-data) nor ovf-env.xml (Azure)", path)
}

func runTool(ctx context.Context, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		pkg := map[string]string{"cloud-localds": "cloud-image-utils", "genisoimage": "genisoimage"}[name]
		return fmt.Errorf("boot: seed: %s not found (apt-get install %s)", name, pkg)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("boot: seed: %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// isSeedImage: an ISO 9660 primary volume descriptor at 32 KiB, or a FAT
// boot sector.
func isSeedImage(f *os.File) bool {
	b := make([]byte, 6)
	if _, err := f.ReadAt(b, 32768); err == nil && bytes.Equal(b, []byte("\x01CD001")) {
		return true
	}
	bs := make([]byte, 512)
	if _, err := f.ReadAt(bs, 0); err != nil {
		return false
	}
	return bs[510] == 0x55 && bs[511] == 0xaa && (bytes.HasPrefix(bs[82:], []byte("FAT32")) || bytes.HasPrefix(bs[54:], []byte("FAT1")))
}
