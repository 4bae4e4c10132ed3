// Package uki builds Unified Kernel Images: systemd's EFI stub with the
// kernel, initramfs, command line and os-release added as PE sections
// (.osrel, .cmdline, .initrd, .linux) placed after the stub's last section,
// page-aligned, as ukify does. objcopy does the PE surgery; the PE
// timestamp and checksum are zeroed afterwards so the image is reproducible.
// Sign signs it for Secure Boot with sbsign.
package uki

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultStub is Debian's systemd-boot-efi stub.
const DefaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

const pageSize = 4096

// Options name the parts of a UKI.
type Options struct {
	Stub      string // EFI stub; empty means DefaultStub
	Kernel    string // bzImage (vmlinuz)
	Initrd    string // initramfs archive
	Cmdline   string // kernel command line (the stub ignores others under Secure Boot)
	OSRelease []byte // os-release contents for .osrel
	Out       string // output path, written atomically
}

type section struct{ name, file string }

// Build writes an unsigned UKI to o.Out.
func Build(ctx context.Context, o Options) error {
	if o.Stub == "" {
		o.Stub = DefaultStub
	}
	for what, p := range map[string]string{"stub": o.Stub, "kernel": o.Kernel, "initrd": o.Initrd} {
		if p == "" {
			return fmt.Errorf("uki: no %s given", what)
		}
		if fi, err := os.Stat(p); err != nil {
			return fmt.Errorf("uki: %s: %w", what, err)
		} else if fi.Size() == 0 {
			return fmt.Errorf("uki: %s %s is empty", what, p)
		}
	}
	if err := checkBzImage(o.Kernel); err != nil {
		return err
	}
	if o.Out == "" {
		return errors.New("uki: no output path")
	}
	work, err := os.MkdirTemp(filepath.Dir(o.Out), ".uki-*")
	if err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	defer os.RemoveAll(work)
	osrel := filepath.Join(work, "osrel")
	cmdline := filepath.Join(work, "cmdline")
	if err := os.WriteFile(osrel, o.OSRelease, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(cmdline, []byte(strings.TrimSpace(o.Cmdline)+"\x00"), 0o644); err != nil {
		return err
	}
	base, end, err := stubEnd(o.Stub)
	if err != nil {
		return err
	}
	args := []string{}
	vma := alignUp(end, pageSize)
	for _, s := range []section{{".osrel", osrel}, {".cmdline", cmdline}, {".initrd", o.Initrd}, {".linux", o.Kernel}} {
		fi, err := os.Stat(s.file)
		if err != nil {
			return err
		}
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", fmt.Sprintf("%s=0x%x", s.name, base+vma))
		vma = alignUp(vma+uint64(fi.Size()), pageSize)
	}
	tmp := filepath.Join(work, "uki.efi")
	args = append(args, o.Stub, tmp)
	cmd := exec.CommandContext(ctx, "objcopy", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("uki: objcopy: %v: %s", err, bytes.TrimSpace(out))
	}
	if err := ZeroTimestamp(tmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	return os.Rename(tmp, o.Out)
}

// checkBzImage refuses something that is not an x86 boot image early, with a
// clear message, rather than leaving it for the firmware to reject.
func checkBzImage(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("uki: kernel: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 0x206)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[0x202:0x206]) != "HdrS" {
		return fmt.Errorf("uki: kernel %s is not an x86 bzImage (no HdrS boot header)", p)
	}
	return nil
}

// stubEnd returns the stub's image base and the end of its last section.
func stubEnd(stub string) (base, end uint64, err error) {
	f, err := pe.Open(stub)
	if err != nil {
		return 0, 0, fmt.Errorf("uki: stub %s: %w", stub, err)
	}
	defer f.Close()
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		base = oh.ImageBase
	case *pe.OptionalHeader32:
		base = uint64(oh.ImageBase)
	default:
		return 0, 0, fmt.Errorf("uki: stub %s has no PE optional header", stub)
	}
	for _, s := range f.Sections {
		switch s.Name {
		case ".linux", ".initrd", ".cmdline", ".osrel":
			return 0, 0, fmt.Errorf("uki: stub %s already has a %s section", stub, s.Name)
		}
		end = max(end, uint64(s.VirtualAddress)+uint64(s.VirtualSize))
	}
	return base, end, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// ZeroTimestamp clears the COFF TimeDateStamp and the optional header's
// CheckSum, the two fields objcopy fills from the clock (firmware ignores the
// checksum; Authenticode excludes it).
func ZeroTimestamp(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, 0x40)
	if _, err := f.ReadAt(hdr, 0); err != nil || hdr[0] != 'M' || hdr[1] != 'Z' {
		return fmt.Errorf("uki: %s is not a PE file", path)
	}
	peOff := int64(binary.LittleEndian.Uint32(hdr[0x3c:]))
	sig := make([]byte, 4)
	if _, err := f.ReadAt(sig, peOff); err != nil || string(sig) != "PE\x00\x00" {
		return fmt.Errorf("uki: %s has no PE signature", path)
	}
	zero := make([]byte, 4)
	if _, err := f.WriteAt(zero, peOff+8); err != nil { // COFF TimeDateStamp
		return err
	}
	if _, err := f.WriteAt(zero, peOff+24+64); err != nil { // OptionalHeader.CheckSum
		return err
	}
	return nil
}

// SignOptions name the Secure Boot db key and certificate (PEM).
type SignOptions struct {
	Key, Cert string
	// SourceDateEpoch fixes the signing time in the PKCS#7 signature
	// (sbsign reads the clock; libfaketime freezes it) so signed UKIs are
	// reproducible. 0 signs with the real time.
	SourceDateEpoch int64
}

// Sign writes a Secure Boot signed copy of in to out (atomically).
func Sign(ctx context.Context, in, out string, o SignOptions) error {
	for what, p := range map[string]string{"signing key": o.Key, "certificate": o.Cert, "image": in} {
		if p == "" {
			return fmt.Errorf("uki: sign: no %s given", what)
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("uki: sign: %s: %w", what, err)
		}
	}
	if _, err := pe.Open(in); err != nil {
		return fmt.Errorf("uki: sign: %s is not a PE image: %w", in, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "sbsign", "--key", o.Key, "--cert", o.Cert, "--output", tmp.Name(), in)
	if o.SourceDateEpoch != 0 {
		env, err := FrozenClockEnv(o.SourceDateEpoch)
		if err != nil {
			return fmt.Errorf("uki: sign: %w", err)
		}
		cmd.Env = append(os.Environ(), env...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("uki: sbsign %s: %v: %s", in, err, bytes.TrimSpace(out))
	}
	return os.Rename(tmp.Name(), out)
}

// Libfaketime is where Debian's faketime package puts the preload library.
var Libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

// FrozenClockEnv is the environment that makes a tool's clock read epoch
// (libfaketime, absolute frozen time), for tools that stamp the current time
// and know nothing of SOURCE_DATE_EPOCH (sbsign, mtools).
func FrozenClockEnv(epoch int64) ([]string, error) {
	if _, err := os.Stat(Libfaketime); err != nil {
		return nil, fmt.Errorf("reproducible timestamps need libfaketime (apt-get install faketime): %w", err)
	}
	t := time.Unix(epoch, 0).UTC().Format("2006-01-02 15:04:05")
	return []string{"LD_PRELOAD=" + Libfaketime, "FAKETIME=" + t, "TZ=UTC", "SOURCE_DATE_EPOCH=" + fmt.Sprint(epoch)}, nil
}
