// Package cpio writes the "newc" (SVR4, no CRC) cpio format the Linux kernel
// unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit hex
// fields), the NUL-terminated name padded to 4 bytes, then the data padded
// to 4 bytes. The archive ends with an entry named "TRAILER!!!".
package cpio

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Mode type bits (as in stat(2)).
const (
	TypeDir     = 0o040000
	TypeReg     = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
)

// Header describes one entry. Writer fills in inode numbers and link counts.
type Header struct {
	Name      string // relative, no leading "/" (e.g. "usr/lib/init")
	Mode      uint32 // type bits | permissions
	UID, GID  uint32
	Mtime     int64
	Size      int64  // data length (symlink: target length)
	RdevMajor uint32 // device nodes
	RdevMinor uint32
}

// Writer writes entries in the order given; for reproducible archives give
// them in a fixed order with fixed Mtime.
type Writer struct {
	w       io.Writer
	ino     uint32
	remain  int64
	pad     int
	closed  bool
	written int64
}

func NewWriter(w io.Writer) *Writer { return &Writer{w: w, ino: 0} }

// WriteHeader starts a new entry; Write supplies its Size bytes of data.
func (w *Writer) WriteHeader(h *Header) error {
	if w.closed {
		return errors.New("cpio: write after close")
	}
	if w.remain != 0 {
		return fmt.Errorf("cpio: previous entry is %d bytes short", w.remain)
	}
	if err := w.flushPad(); err != nil {
		return err
	}
	name := strings.TrimPrefix(h.Name, "/")
	if name == "" || strings.ContainsRune(name, 0) || len(name) > 4095 {
		return fmt.Errorf("cpio: bad entry name %q", h.Name)
	}
	if h.Size < 0 || h.Size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit newc's 32-bit field", name, h.Size)
	}
	if h.Mtime < 0 || h.Mtime > 0xffffffff {
		return fmt.Errorf("cpio: %s: mtime %d out of range", name, h.Mtime)
	}
	if h.Mode&0o170000 == TypeDir && h.Size != 0 {
		return fmt.Errorf("cpio: %s: directory with data", name)
	}
	w.ino++
	nlink := uint32(1)
	if h.Mode&0o170000 == TypeDir {
		nlink = 2
	}
	return w.header(name, w.ino, h.Mode, h.UID, h.GID, nlink, h.Mtime, h.Size, h.RdevMajor, h.RdevMinor)
}

func (w *Writer) header(name string, ino, mode, uid, gid, nlink uint32, mtime, size int64, rmaj, rmin uint32) error {
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, uid, gid, nlink, uint32(mtime), uint32(size), 0, 0, rmaj, rmin, len(name)+1, 0)
	n := len(hdr) + len(name) + 1
	buf := make([]byte, 0, n+3)
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	for len(buf)%4 != 0 {
		buf = append(buf, 0)
	}
	if _, err := w.w.Write(buf); err != nil {
		return err
	}
	w.written += int64(len(buf))
	w.remain = size
	w.pad = int((4 - size%4) % 4)
	return nil
}

// Write writes data of the current entry.
func (w *Writer) Write(p []byte) (int, error) {
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: %d bytes written past the entry's size", int64(len(p))-w.remain)
	}
	n, err := w.w.Write(p)
	w.remain -= int64(n)
	w.written += int64(n)
	return n, err
}

func (w *Writer) flushPad() error {
	if w.pad == 0 {
		return nil
	}
	n, err := w.w.Write(make([]byte, w.pad))
	w.written += int64(n)
	w.pad = 0
	return err
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.remain != 0 {
		return fmt.Errorf("cpio: last entry is %d bytes short", w.remain)
	}
	if err := w.flushPad(); err != nil {
		return err
	}
	w.closed = true
	if err := w.header("TRAILER!!!", 0, 0, 0, 0, 1, 0, 0, 0, 0); err != nil {
		return err
	}
	// The kernel does not need it, but cpio(1) pads archives to 512 bytes.
	if r := w.written % 512; r != 0 {
		_, err := w.w.Write(make([]byte, 512-r))
		return err
	}
	return nil
}
