package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// Device-mapper ioctl interface (linux/dm-ioctl.h, version 4).
const (
	dmIoctlSize   = 312 // sizeof(struct dm_ioctl)
	dmSpecSize    = 40  // sizeof(struct dm_target_spec)
	dmReadonly    = 1 << 0
	dmStatusTable = 1 << 4
	dmDevCreate   = 3
	dmDevSuspend  = 6
	dmTableLoad   = 9
	dmTableStatus = 12
)

func dmReq(nr uintptr) uintptr { return 3<<30 | dmIoctlSize<<16 | 0xfd<<8 | nr }

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// dmIoctl sends one request. buf holds struct dm_ioctl followed by its data.
func dmIoctl(nr uintptr, name string, flags uint32, targets uint32, data []byte, bufSize int) ([]byte, error) {
	if bufSize < dmIoctlSize+len(data) {
		bufSize = dmIoctlSize + len(data)
	}
	buf := make([]byte, bufSize)
	le := binary.LittleEndian
	le.PutUint32(buf[0:], 4)
	le.PutUint32(buf[4:], 0)
	le.PutUint32(buf[8:], 0)
	le.PutUint32(buf[12:], uint32(bufSize)) // data_size
	le.PutUint32(buf[16:], dmIoctlSize)     // data_start
	le.PutUint32(buf[20:], targets)         // target_count
	le.PutUint32(buf[28:], flags)           // flags
	copy(buf[48:48+127], name)              // name[128]
	copy(buf[dmIoctlSize:], data)
	f, err := os.OpenFile("/dev/mapper/control", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), dmReq(nr), uintptrOf(buf))
	if e != 0 {
		return nil, e
	}
	return buf, nil
}

// dmCreate creates a one-target device, loads its table and resumes it; it
// returns the path of a node made for it.
func dmCreate(name, target string, sectors uint64, params string, readonly bool) (string, error) {
	flags := uint32(0)
	if readonly {
		flags = dmReadonly
	}
	out, err := dmIoctl(dmDevCreate, name, flags, 0, nil, 0)
	if err != nil {
		return "", fmt.Errorf("device-mapper create %s: %w", name, err)
	}
	dev := binary.LittleEndian.Uint64(out[40:])
	spec := make([]byte, dmSpecSize, dmSpecSize+len(params)+8)
	binary.LittleEndian.PutUint64(spec[8:], sectors)
	copy(spec[24:40], target)
	spec = append(spec, params...)
	spec = append(spec, 0)
	for len(spec)%8 != 0 {
		spec = append(spec, 0)
	}
	if _, err := dmIoctl(dmTableLoad, name, flags, 1, spec, 0); err != nil {
		return "", fmt.Errorf("device-mapper load %s table %q: %w", name, params, err)
	}
	if _, err := dmIoctl(dmDevSuspend, name, 0, 0, nil, 0); err != nil {
		return "", fmt.Errorf("device-mapper resume %s: %w", name, err)
	}
	major := uint32((dev >> 8) & 0xfff)
	minor := uint32((dev & 0xff) | ((dev >> 12) & 0xfff00))
	path := fmt.Sprintf("/dev/dm-%d", minor)
	if _, err := os.Stat(path); err != nil {
		os.MkdirAll("/dev/mapper", 0o755)
		path = "/dev/mapper/" + name
		if err := syscall.Mknod(path, syscall.S_IFBLK|0o600, int(major<<8|minor&0xff|(minor&^0xff)<<12)); err != nil {
			return "", fmt.Errorf("mknod %s: %w", path, err)
		}
	}
	return path, nil
}

// dmStatus returns "target start length status" lines, like `dmsetup status`
// (or `dmsetup table` when table is true).
func dmStatus(name string, table bool) (string, error) {
	flags := uint32(0)
	if table {
		flags = dmStatusTable
	}
	buf, err := dmIoctl(dmTableStatus, name, flags, 0, nil, 16384)
	if err != nil {
		return "", err
	}
	le := binary.LittleEndian
	start := int(le.Uint32(buf[16:]))
	n := int(le.Uint32(buf[20:]))
	var lines []string
	off := start
	for i := 0; i < n && off+dmSpecSize <= len(buf); i++ {
		s := buf[off:]
		secStart := le.Uint64(s[0:])
		length := le.Uint64(s[8:])
		next := int(le.Uint32(s[20:]))
		typ := string(bytes.TrimRight(s[24:40], "\x00"))
		params := s[dmSpecSize:]
		if j := bytes.IndexByte(params, 0); j >= 0 {
			params = params[:j]
		}
		lines = append(lines, fmt.Sprintf("%d %d %s %s", secStart, length, typ, params))
		if next == 0 {
			break
		}
		// next is relative to the data start for status replies.
		off = start + next
	}
	return strings.Join(lines, "\n"), nil
}
