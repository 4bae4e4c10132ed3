package main

// Finding provisioning media: block devices whose superblock says ISO 9660
// or FAT (NoCloud: labelled "cidata"), or UDF/ISO 9660 holding ovf-env.xml
// (Azure). Superblocks are read directly (there is no blkid); the volume is
// mounted read-only, nosuid, nodev, noexec, and unmounted after reading.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Volume is a block device with a filesystem provisioning media can have.
type Volume struct {
	Dev    string // /dev/NAME
	FSType string // iso9660, vfat or udf
	Label  string
}

// probe reads the filesystem type and label from a device's first blocks.
func probe(r io.ReaderAt) (fstype, label string) {
	var pvd [2048]byte
	if n, _ := r.ReadAt(pvd[:], 32768); n == len(pvd) {
		if bytes.Equal(pvd[1:6], []byte("CD001")) && pvd[0] == 1 {
			return "iso9660", strings.TrimRight(string(pvd[40:72]), " \x00")
		}
		// A UDF volume without an ISO 9660 descriptor: BEA01 then NSR02/03.
		if bytes.Equal(pvd[1:6], []byte("BEA01")) {
			return "udf", ""
		}
	}
	var bs [512]byte
	if n, _ := r.ReadAt(bs[:], 0); n != len(bs) || bs[510] != 0x55 || bs[511] != 0xaa {
		return "", ""
	}
	switch {
	case bytes.Equal(bs[82:87], []byte("FAT32")):
		return "vfat", strings.TrimRight(string(bs[71:82]), " \x00")
	case bytes.Equal(bs[54:59], []byte("FAT12")), bytes.Equal(bs[54:59], []byte("FAT16")):
		return "vfat", strings.TrimRight(string(bs[43:54]), " \x00")
	}
	return "", ""
}

// volumes lists the block devices (disks and partitions) with an ISO 9660,
// UDF or FAT filesystem, sorted by name.
func volumes(sysBlock, dev string) []Volume {
	ents, _ := os.ReadDir(sysBlock)
	var out []Volume
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		f, err := os.Open(filepath.Join(dev, name))
		if err != nil {
			continue
		}
		fstype, label := probe(f)
		f.Close()
		if fstype != "" {
			out = append(out, Volume{Dev: filepath.Join(dev, name), FSType: fstype, Label: label})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dev < out[j].Dev })
	return out
}

// maxSeedFile bounds each file read from provisioning media.
const maxSeedFile = 1 << 20

var errNoFile = errors.New("absent")

// readFrom mounts v read-only at dir, reads the named files (a missing one
// is errNoFile in errs) and unmounts.
func readFrom(v Volume, dir string, names ...string) (files map[string][]byte, errs map[string]error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	types := []string{v.FSType}
	if v.FSType == "iso9660" {
		types = append(types, "udf") // a UDF bridge disc mounts either way
	}
	var merr error
	for _, t := range types {
		opts := ""
		if t == "vfat" {
			opts = "utf8"
		}
		if merr = syscall.Mount(v.Dev, dir, t, syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, opts); merr == nil {
			break
		}
	}
	if merr != nil {
		return nil, nil, fmt.Errorf("mounting %s (%s): %w", v.Dev, v.FSType, merr)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	files, errs = map[string][]byte{}, map[string]error{}
	for _, n := range names {
		b, err := readLimited(filepath.Join(dir, n), maxSeedFile)
		if err != nil {
			errs[n] = err
			continue
		}
		files[n] = b
	}
	return files, errs, nil
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoFile
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d KiB", max>>10)
	}
	return b, nil
}
