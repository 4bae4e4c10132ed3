package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Format is an output format for a raw disk.
type Format string

const (
	Raw   Format = "raw"
	Qcow2 Format = "qcow2"
	VHD   Format = "vhd" // fixed VHD, what Azure takes
)

// Convert writes raw as format to out (atomically). For VHD the footer's
// timestamp and unique id, which qemu-img takes from the clock and a random
// source, are set from epoch and seed.
func Convert(ctx context.Context, raw, out string, f Format, seed string, epoch int64) error {
	var args []string
	switch f {
	case Qcow2:
		args = []string{"convert", "-f", "raw", "-O", "qcow2", raw}
	case VHD:
		fi, err := os.Stat(raw)
		if err != nil {
			return err
		}
		if fi.Size()%Align != 0 {
			return fmt.Errorf("disk: %s: %d bytes is not a whole number of MiB (Azure needs it)", raw, fi.Size())
		}
		args = []string{"convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw}
	case Raw:
		args = []string{"convert", "-f", "raw", "-O", "raw", raw}
	default:
		return fmt.Errorf("disk: unknown format %q (want raw, qcow2 or vhd)", f)
	}
	return atomicfile.Write(out, 0o644, func(tmp *os.File) error {
		cmd := exec.CommandContext(ctx, "qemu-img", append(args, tmp.Name())...)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("disk: qemu-img %s: %v: %s", f, err, bytes.TrimSpace(o))
		}
		if f == VHD {
			return fixVHDFooter(tmp, seed, epoch)
		}
		return nil
	})
}

// fixVHDFooter rewrites the 512-byte footer's Time Stamp (seconds since
// 2000-01-01) and Unique Id, then its checksum (one's complement of the byte
// sum), per the VHD specification.
func fixVHDFooter(f *os.File, seed string, epoch int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	foot := make([]byte, 512)
	off := fi.Size() - 512
	if _, err := f.ReadAt(foot, off); err != nil {
		return err
	}
	if string(foot[:8]) != "conectix" {
		return fmt.Errorf("disk: qemu-img wrote no VHD footer")
	}
	be := binary.BigEndian
	vhdEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	ts := epoch - vhdEpoch
	if ts < 0 {
		ts = 0
	}
	be.PutUint32(foot[24:], uint32(ts))
	id := SeededGUID(seed, "vhd")
	copy(foot[68:84], id[:])
	be.PutUint32(foot[64:], 0)
	var sum uint32
	for _, b := range foot {
		sum += uint32(b)
	}
	be.PutUint32(foot[64:], ^sum)
	_, err = f.WriteAt(foot, off)
	return err
}
