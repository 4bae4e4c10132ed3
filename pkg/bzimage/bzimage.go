// Package bzimage reads the x86 Linux boot image (Documentation/arch/x86/
// boot.rst): the setup header, the compressed kernel inside it, and whether
// that kernel can be entered directly through PVH (the Xen/QEMU/Firecracker
// 32-bit entry point), which skips the firmware's loader and the in-guest
// decompression.
package bzimage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/pierrec/lz4/v4"
)

// maxKernel bounds what Vmlinux will allocate (a hostile header could ask
// for 4 GiB); real kernels are well under this.
const maxKernel = 512 << 20

// Payload returns the compressed kernel a bzImage carries, its format
// ("gzip", "xz", "lz4", "zstd", "bzip2") and the size it decompresses to.
func Payload(img []byte) (payload []byte, format string, size uint32, err error) {
	if len(img) < 0x250 {
		return nil, "", 0, fmt.Errorf("bzimage: %d bytes: too short for a setup header", len(img))
	}
	if string(img[0x202:0x206]) != "HdrS" {
		return nil, "", 0, errors.New("bzimage: no \"HdrS\" setup header at 0x202: not an x86 boot image")
	}
	if v := binary.LittleEndian.Uint16(img[0x206:]); v < 0x208 {
		return nil, "", 0, fmt.Errorf("bzimage: boot protocol %#x: payload fields need 2.08 or later", v)
	}
	setupSects := int(img[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := uint64(setupSects+1) * 512
	po := uint64(binary.LittleEndian.Uint32(img[0x248:]))
	pl := uint64(binary.LittleEndian.Uint32(img[0x24c:]))
	start, end := off+po, off+po+pl
	if pl < 8 || end > uint64(len(img)) {
		return nil, "", 0, fmt.Errorf("bzimage: payload at %d+%d bytes lies outside the %d-byte image", start, pl, len(img))
	}
	payload = img[start:end]
	// The build appends the decompressed size to every payload (the
	// in-kernel decompressor reads it from there).
	size = binary.LittleEndian.Uint32(payload[len(payload)-4:])
	format = rpm.SniffCompressor(payload)
	if bytes.HasPrefix(payload, []byte{0x02, 0x21, 0x4c, 0x18}) {
		format = "lz4" // legacy frame, as the kernel's build writes it
	}
	if format == "identity" {
		return nil, "", 0, fmt.Errorf("bzimage: payload starts % x: not gzip, xz, lz4, zstd or bzip2", payload[:4])
	}
	return payload, format, size, nil
}

// Vmlinux decompresses the kernel ELF out of a bzImage.
func Vmlinux(img []byte) ([]byte, error) {
	payload, format, size, err := Payload(img)
	if err != nil {
		return nil, err
	}
	if size == 0 || size > maxKernel {
		return nil, fmt.Errorf("bzimage: decompressed size %d: want 1 to %d bytes", size, maxKernel)
	}
	var r io.Reader
	if format == "lz4" {
		r = lz4.NewReader(bytes.NewReader(payload))
	} else {
		rc, err := rpm.Decompress(bufio.NewReader(bytes.NewReader(payload)), format)
		if err != nil {
			return nil, fmt.Errorf("bzimage: %s payload: %w", format, err)
		}
		defer rc.Close()
		r = rc
	}
	out := make([]byte, size)
	// Read exactly the recorded size: what follows (the size trailer) is not
	// compressed data, and some decoders would report it as an error.
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("bzimage: decompressing the %s payload (%d bytes expected): %w", format, size, err)
	}
	if !bytes.HasPrefix(out, []byte(elf.ELFMAG)) {
		return nil, errors.New("bzimage: the decompressed payload is not an ELF kernel")
	}
	return out, nil
}

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point.
const xenElfnotePhys32Entry = 18

// PVHEntry returns the kernel's PVH entry point when its ELF notes have one.
func PVHEntry(vmlinux []byte) (uint32, bool, error) {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return 0, false, fmt.Errorf("bzimage: kernel ELF: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if p.Filesz > 1<<20 {
			return 0, false, fmt.Errorf("bzimage: note segment of %d bytes", p.Filesz)
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return 0, false, fmt.Errorf("bzimage: reading note segment: %w", err)
		}
		for len(b) >= 12 {
			nsz, dsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
			nameEnd := 12 + (uint64(nsz)+3)&^3
			descEnd := nameEnd + (uint64(dsz)+3)&^3
			if descEnd > uint64(len(b)) {
				return 0, false, errors.New("bzimage: truncated ELF note")
			}
			name := string(bytes.TrimRight(b[12:12+nsz], "\x00"))
			if name == "Xen" && typ == xenElfnotePhys32Entry && dsz >= 4 {
				return binary.LittleEndian.Uint32(b[nameEnd:]), true, nil
			}
			b = b[descEnd:]
		}
	}
	return 0, false, nil
}
