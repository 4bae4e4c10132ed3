package cpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Reading, and raw writing for tests. rpm payloads are newc archives too;
// rpm ≥ 4.12 writes "07070X" stripped entries only for files over 4 GiB.

const headerLen = 110

// Entry is one archive member's metadata exactly as stored (a reader's
// view, and a raw writer's input: nothing is checked or filled in).
type Entry struct {
	Name     string
	Ino      uint32
	Mode     uint32
	UID, GID uint32
	Nlink    uint32
	Mtime    uint32
	Size     uint32
	DevMajor uint32
	DevMinor uint32
	RdevMaj  uint32
	RdevMin  uint32
}

// Reader reads a newc archive sequentially.
type Reader struct {
	r      io.Reader
	off    int64
	remain int64 // data bytes of the current entry not yet read
	pad    int64
}

// NewReader reads newc entries from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next skips the rest of the current entry and returns the next header;
// io.EOF after the TRAILER!!! entry.
func (c *Reader) Next() (*Entry, error) {
	if err := c.skip(c.remain + c.pad); err != nil {
		return nil, err
	}
	c.remain, c.pad = 0, 0
	var hdr [headerLen]byte
	start := c.off
	if err := c.read(hdr[:]); err != nil {
		return nil, fmt.Errorf("cpio header at offset %d: %w", start, noEOF(err))
	}
	if string(hdr[:6]) == "07070X" {
		return nil, fmt.Errorf("cpio at offset %d: stripped (07070X) entries for files over 4 GiB are not supported", start)
	}
	if string(hdr[:6]) != "070701" && string(hdr[:6]) != "070702" {
		return nil, fmt.Errorf("cpio at offset %d: bad magic %q, want 070701", start, hdr[:6])
	}
	var f [13]uint32
	for i := range f {
		v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("cpio at offset %d: field %d: %q is not 8 hex digits", start, i, hdr[6+8*i:14+8*i])
		}
		f[i] = uint32(v)
	}
	namesize := f[11]
	if namesize == 0 || namesize > 4096 {
		return nil, fmt.Errorf("cpio at offset %d: name size %d out of range 1..4096", start, namesize)
	}
	name := make([]byte, namesize)
	if err := c.read(name); err != nil {
		return nil, fmt.Errorf("cpio name at offset %d: %w", start, noEOF(err))
	}
	if name[namesize-1] != 0 || bytes.IndexByte(name[:namesize-1], 0) >= 0 {
		return nil, fmt.Errorf("cpio at offset %d: name %q is not one NUL-terminated string", start, name)
	}
	if err := c.skip(pad4(headerLen + int64(namesize))); err != nil {
		return nil, err
	}
	e := &Entry{
		Name: string(name[:namesize-1]), Ino: f[0], Mode: f[1], UID: f[2], GID: f[3], Nlink: f[4],
		Mtime: f[5], Size: f[6], DevMajor: f[7], DevMinor: f[8], RdevMaj: f[9], RdevMin: f[10],
	}
	if e.Name == "TRAILER!!!" {
		return nil, io.EOF
	}
	c.remain = int64(e.Size)
	c.pad = pad4(int64(e.Size))
	return e, nil
}

// Read reads the current entry's data.
func (c *Reader) Read(p []byte) (int, error) {
	if c.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.r.Read(p)
	c.remain -= int64(n)
	c.off += int64(n)
	if err == io.EOF && c.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *Reader) read(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.off += int64(n)
	return err
}

func (c *Reader) skip(n int64) error {
	if n == 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, c.r, n)
	c.off += m
	if err != nil {
		return fmt.Errorf("cpio data at offset %d: %w", c.off, noEOF(err))
	}
	return nil
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }

// RawWriter writes entries exactly as given (tests build hostile payloads
// with it: duplicate inodes, "../" names); Writer is the checked writer.
type RawWriter struct {
	w   io.Writer
	off int64
	err error
}

// NewRawWriter writes newc entries to w.
func NewRawWriter(w io.Writer) *RawWriter { return &RawWriter{w: w} }

// WriteEntry writes one member with its data (len(data) must equal e.Size
// unless e.Size is 0, in which case it is set from data).
func (c *RawWriter) WriteEntry(e Entry, data []byte) error {
	if e.Size == 0 {
		e.Size = uint32(len(data))
	}
	if int(e.Size) != len(data) {
		return errors.New("cpio: size does not match data")
	}
	name := e.Name + "\x00"
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		e.Ino, e.Mode, e.UID, e.GID, e.Nlink, e.Mtime, e.Size, e.DevMajor, e.DevMinor, e.RdevMaj, e.RdevMin, len(name), 0)
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write(make([]byte, pad4(c.off)))
	c.write(data)
	c.write(make([]byte, pad4(c.off)))
	return c.err
}

// Close writes the trailer.
func (c *RawWriter) Close() error {
	return c.WriteEntry(Entry{Name: "TRAILER!!!", Nlink: 1}, nil)
}

func (c *RawWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
