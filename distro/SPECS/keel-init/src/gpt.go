package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// findPartition resolves "PARTUUID=<uuid>" (or a /dev path) to a device node,
// waiting for the disk to appear.
func findPartition(spec string, wait time.Duration) (string, error) {
	if strings.HasPrefix(spec, "/dev/") {
		deadline := time.Now().Add(wait)
		for {
			if _, err := os.Stat(spec); err == nil {
				return spec, nil
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("root device %s did not appear in %s", spec, wait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	u, ok := strings.CutPrefix(spec, "PARTUUID=")
	if !ok {
		return "", fmt.Errorf("%q: want PARTUUID=<uuid> or /dev/<name>", spec)
	}
	want, err := parseGUID(u)
	if err != nil {
		return "", fmt.Errorf("%q: %w", spec, err)
	}
	deadline := time.Now().Add(wait)
	for {
		if dev := scanDisks(want); dev != "" {
			return dev, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no partition with PARTUUID %s appeared in %s", u, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scanDisks reads the GPT of every whole disk and returns the node of the
// partition whose unique GUID is want.
func scanDisks(want [16]byte) string {
	disks, _ := os.ReadDir("/sys/block")
	for _, d := range disks {
		name := d.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		n, err := gptFind("/dev/"+name, want)
		if err != nil || n == 0 {
			continue
		}
		// The partition's node name comes from sysfs (vda2, nvme0n1p2, ...).
		parts, _ := filepath.Glob("/sys/block/" + name + "/" + name + "*/partition")
		for _, p := range parts {
			b, _ := os.ReadFile(p)
			if strings.TrimSpace(string(b)) == strconv.Itoa(n) {
				node := "/dev/" + filepath.Base(filepath.Dir(p))
				if _, err := os.Stat(node); err == nil {
					return node
				}
			}
		}
	}
	return ""
}

// gptFind returns the 1-based number of the partition with GUID want on disk.
func gptFind(disk string, want [16]byte) (int, error) {
	f, err := os.Open(disk)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return gptFindIn(f, want)
}

// gptFindIn reads a GPT (512- or 4096-byte sectors) from r. The disk is
// untrusted: sizes are bounded before anything is allocated.
func gptFindIn(f io.ReaderAt, want [16]byte) (int, error) {
	for _, lbs := range []int64{512, 4096} {
		hdr := make([]byte, 92)
		if _, err := f.ReadAt(hdr, lbs); err != nil {
			return 0, err
		}
		if string(hdr[:8]) != "EFI PART" {
			continue
		}
		le := binary.LittleEndian
		entLBA := int64(le.Uint64(hdr[72:]))
		num := le.Uint32(hdr[80:])
		size := le.Uint32(hdr[84:])
		if size < 128 || size > 4096 || num > 1024 {
			return 0, errors.New("implausible GPT header")
		}
		if entLBA < 2 || entLBA > 1<<40 {
			return 0, errors.New("implausible GPT entry LBA")
		}
		ents := make([]byte, int(num)*int(size))
		if _, err := f.ReadAt(ents, entLBA*lbs); err != nil {
			return 0, err
		}
		for i := 0; i < int(num); i++ {
			e := ents[i*int(size):]
			if bytes.Equal(e[16:32], want[:]) {
				return i + 1, nil
			}
		}
		return 0, nil
	}
	return 0, nil
}

// parseGUID turns the text form into GPT's mixed-endian bytes.
func parseGUID(s string) ([16]byte, error) {
	var g [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return g, errors.New("malformed GUID")
	}
	var raw [16]byte
	for i := range raw {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return g, errors.New("malformed GUID")
		}
		raw[i] = byte(v)
	}
	g = raw
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	return g, nil
}
