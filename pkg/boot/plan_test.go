package boot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func diskBytes(size int, at map[int][]byte) []byte {
	b := make([]byte, size)
	for off, v := range at {
		copy(b[off:], v)
	}
	return b
}

func TestDiskFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" = refused
	}{
		{"qcow2", diskBytes(4096, map[int][]byte{0: []byte("QFI\xfb\x00\x00\x00\x03")}), "qcow2"},
		{"vhd dynamic", diskBytes(4096, map[int][]byte{0: []byte("conectix")}), "vpc"},
		{"vhd fixed", diskBytes(4096, map[int][]byte{4096 - 512: []byte("conectix")}), "vpc"},
		{"gpt", diskBytes(8192, map[int][]byte{510: {0x55, 0xaa}, 512: []byte("EFI PART")}), "raw"},
		{"gpt 4k", diskBytes(8192, map[int][]byte{4096: []byte("EFI PART")}), "raw"},
		{"mbr", diskBytes(1024, map[int][]byte{510: {0x55, 0xaa}}), "raw"},
		{"zeros", make([]byte, 1<<16), ""},
		{"text", []byte("#!/bin/sh\necho not a disk\n"), ""},
		{"empty", nil, ""},
	} {
		got, err := DiskFormat(bytes.NewReader(tc.data), int64(len(tc.data)))
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("%s: DiskFormat = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// A plan refuses a file that is not a disk image before QEMU starts (the
// QEMU binary here does not exist: reaching it would be another error).
func TestPlanRefusesNonDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Plan{Disk: p, Firmware: OVMF}.Run(context.Background(), Options{QEMU: "/nonexistent/qemu"})
	if err == nil || !strings.Contains(err.Error(), "not a disk image") {
		t.Fatalf("err = %v, want not a disk image", err)
	}
	mbr := filepath.Join(t.TempDir(), "d.raw")
	if err := os.WriteFile(mbr, diskBytes(1024, map[int][]byte{510: {0x55, 0xaa}}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Plan{Disk: mbr, DiskFormat: "qcow2", Firmware: OVMF}.Run(context.Background(), Options{QEMU: "/nonexistent/qemu"})
	if err == nil || !strings.Contains(err.Error(), "is a raw image, not qcow2") {
		t.Fatalf("err = %v, want a format mismatch", err)
	}
}

func FuzzDiskFormat(f *testing.F) {
	f.Add([]byte("QFI\xfb"))
	f.Add([]byte("conectix"))
	f.Add(diskBytes(1024, map[int][]byte{510: {0x55, 0xaa}, 512: []byte("EFI PART")}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DiskFormat(bytes.NewReader(b), int64(len(b)))
		if (err == nil) == (got == "") {
			t.Fatalf("DiskFormat = %q, %v", got, err)
		}
	})
}
