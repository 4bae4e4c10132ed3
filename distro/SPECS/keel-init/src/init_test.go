package main

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"testing"
)

func TestQuoteIfNeeded(t *testing.T) {
	for _, v := range []string{"plain value", "", `"starts with quote`, "tab\there", "naïve", `back\slash`} {
		q := quoteIfNeeded(v)
		got := q
		if len(q) > 0 && q[0] == '"' {
			var err error
			if got, err = strconv.Unquote(q); err != nil {
				t.Fatalf("%q: %v", q, err)
			}
		}
		if got != v {
			t.Errorf("%q -> %q -> %q", v, q, got)
		}
	}
}

func TestParseGUID(t *testing.T) {
	g, err := parseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if string(g[:]) != string(want) {
		t.Fatalf("%x", g)
	}
	if _, err := parseGUID("c12a7328f81f11d2ba4b00a0c93ec93b"); err == nil {
		t.Error("malformed GUID accepted")
	}
}

func FuzzVeritySuperblock(f *testing.F) {
	sb := make([]byte, 512)
	copy(sb, "verity")
	binary.LittleEndian.PutUint32(sb[8:], 1)
	binary.LittleEndian.PutUint32(sb[12:], 1)
	copy(sb[32:], "sha256")
	binary.LittleEndian.PutUint32(sb[64:], 4096)
	binary.LittleEndian.PutUint32(sb[68:], 4096)
	binary.LittleEndian.PutUint64(sb[72:], 10)
	binary.LittleEndian.PutUint16(sb[80:], 32)
	f.Add(sb)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseVeritySuperblock(b)
		if err == nil && (len(p.salt) > 256 || p.dataBlocks == 0) {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func FuzzGPT(f *testing.F) {
	disk := make([]byte, 64*512)
	copy(disk[512:], "EFI PART")
	binary.LittleEndian.PutUint64(disk[512+72:], 2)
	binary.LittleEndian.PutUint32(disk[512+80:], 4)
	binary.LittleEndian.PutUint32(disk[512+84:], 128)
	copy(disk[1024+128+16:], "0123456789abcdef")
	f.Add(disk)
	f.Fuzz(func(t *testing.T, b []byte) {
		var want [16]byte
		copy(want[:], "0123456789abcdef")
		n, err := gptFindIn(bytes.NewReader(b), want)
		if err == nil && n < 0 {
			t.Fatal(n)
		}
	})
}

func TestGPTFind(t *testing.T) {
	disk := make([]byte, 64*512)
	copy(disk[512:], "EFI PART")
	binary.LittleEndian.PutUint64(disk[512+72:], 2)
	binary.LittleEndian.PutUint32(disk[512+80:], 4)
	binary.LittleEndian.PutUint32(disk[512+84:], 128)
	copy(disk[1024+128+16:], "0123456789abcdef")
	var want [16]byte
	copy(want[:], "0123456789abcdef")
	if n, err := gptFindIn(bytes.NewReader(disk), want); n != 2 || err != nil {
		t.Fatalf("got %d %v, want partition 2", n, err)
	}
}
