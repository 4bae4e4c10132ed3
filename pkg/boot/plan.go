package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Plan is how one disk image is booted and what it must show: the disk and
// its format, the firmware, for Secure Boot the certificate to enroll, and
// the expectations. `keel boot` and the release cut's boot gate both boot
// through a Plan (image.Manifest.BootPlan makes one from an image's
// manifest), so the two cannot drift.
type Plan struct {
	Disk       string
	DiskFormat string // QEMU's name: raw, qcow2 or vpc; "" = detected from the file
	Firmware   Firmware
	// EnrollCert (OVMFSecureBoot) is a PEM certificate enrolled as PK, KEK
	// and db into a vars file made for this run only (two concurrent boots
	// never share one); Vars is then the template to enroll into.
	EnrollCert string
	Vars       string
	Expect     []Expectation
	// Net is the guest's NIC; its expectations (a DHCP lease on it) are
	// checked with Expect. Options.Net, when set, replaces it.
	Net *Network
}

// Run checks that the disk is a disk image, enrolls the certificate if the
// plan has one, and boots with o for everything the plan does not say
// (timeout, memory, console, saved vars).
func (p Plan) Run(ctx context.Context, o Options) (*Result, error) {
	if p.Disk == "" {
		return nil, errors.New("boot: the plan has no disk")
	}
	format, err := DetectDiskFormat(p.Disk)
	if err != nil {
		return nil, err
	}
	if p.DiskFormat != "" && p.DiskFormat != format {
		return nil, fmt.Errorf("boot: %s is a %s image, not %s", p.Disk, format, p.DiskFormat)
	}
	o.Disk, o.DiskFormat, o.Firmware, o.Vars, o.Expect = p.Disk, format, p.Firmware, p.Vars, p.Expect
	if o.Net == nil {
		o.Net = p.Net
	}
	if o.Net != nil {
		ex, err := o.Net.Expect()
		if err != nil {
			return nil, err
		}
		o.Expect = append(append([]Expectation(nil), o.Expect...), ex...)
	}
	if p.Firmware == OVMFSecureBoot && p.EnrollCert != "" {
		dir, err := os.MkdirTemp("", "keel-vars-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Vars = filepath.Join(dir, "vars.fd")
		if err := EnrollVars(ctx, p.Vars, p.EnrollCert, o.Vars); err != nil {
			return nil, fmt.Errorf("enrolling the Secure Boot certificate: %w", err)
		}
	}
	return Run(ctx, o)
}

// DetectDiskFormat says which disk image format the file at path is, in
// QEMU's names: qcow2, vpc (VHD) or raw (a GPT or an MBR boot signature).
// Anything else is refused before QEMU starts on it.
func DetectDiskFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("boot: disk: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() && fi.Mode()&os.ModeDevice == 0 {
		return "", fmt.Errorf("boot: %s is not a disk image (not a file)", path)
	}
	format, err := DiskFormat(f, fi.Size())
	if err != nil {
		return "", fmt.Errorf("boot: %s: %w", path, err)
	}
	return format, nil
}

var errNotDisk = errors.New("not a disk image: no qcow2 or VHD header, no GPT and no MBR boot signature (give the raw, qcow2 or vhd output of keel image build)")

// DiskFormat reads the magic of a disk image of size bytes: the qcow2
// header, a VHD footer (first sector of a dynamic VHD, last of a fixed one),
// or a GPT header at LBA 1 (512- or 4096-byte sectors) or an MBR boot
// signature for raw.
func DiskFormat(r io.ReaderAt, size int64) (string, error) {
	at := func(off int64, n int) []byte {
		if off < 0 || off+int64(n) > size {
			return nil
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, off); err != nil {
			return nil
		}
		return b
	}
	if b := at(0, 4); bytes.Equal(b, []byte("QFI\xfb")) {
		return "qcow2", nil
	}
	if b := at(0, 8); bytes.Equal(b, []byte("conectix")) {
		return "vpc", nil
	}
	if b := at(size-512, 8); bytes.Equal(b, []byte("conectix")) {
		return "vpc", nil
	}
	for _, sector := range []int64{512, 4096} {
		if b := at(sector, 8); bytes.Equal(b, []byte("EFI PART")) {
			return "raw", nil
		}
	}
	if b := at(510, 2); bytes.Equal(b, []byte{0x55, 0xaa}) {
		return "raw", nil
	}
	return "", errNotDisk
}
