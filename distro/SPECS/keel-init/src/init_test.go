package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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

func TestParseEd25519PKIX(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseEd25519PKIX(der)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("got %x, %v; want %x", got, err, pub)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for _, bad := range [][]byte{nil, der[:len(der)-1], append(append([]byte(nil), der...), 0), ecDER} {
		if _, err := parseEd25519PKIX(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

func TestLoadInOrder(t *testing.T) {
	paths := []string{"ring", "virtio", "blk", "rs", "dm", "verity", "crc", "erofs"}
	deps := map[string][]string{"ring": nil, "virtio": {"ring"}, "blk": {"virtio", "ring"}, "rs": nil, "dm": nil,
		"verity": {"rs", "dm"}, "crc": nil, "erofs": {"crc"}}
	for _, tc := range []struct {
		name    string
		deps    map[string][]string
		fail    string
		wantErr string
	}{
		{"parallel", deps, "", ""},
		{"no dependency data", nil, "", ""},
		{"dependency fails", deps, "dm", "loading module dm: boom"},
		{"dependency listed later", map[string][]string{"ring": {"blk"}}, "", "does not list before it"},
		{"unknown dependency", map[string][]string{"ring": {"nope"}}, "", "does not list before it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			loaded := map[string]bool{}
			var order []string
			err := loadInOrder(paths, tc.deps, "modules", func(p string) error {
				mu.Lock()
				defer mu.Unlock()
				need := tc.deps[p]
				if tc.deps == nil && p != paths[0] {
					need = []string{paths[slices.Index(paths, p)-1]}
				}
				for _, d := range need {
					if !loaded[d] {
						t.Errorf("%s loaded before its dependency %s", p, d)
					}
				}
				order = append(order, p)
				if p == tc.fail {
					return errors.New("boom")
				}
				loaded[p] = true
				return nil
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.fail != "" && slices.Contains(order, "verity") {
				t.Error("verity loaded although dm failed")
			}
			if tc.wantErr == "" && len(order) != len(paths) {
				t.Errorf("loaded %v", order)
			}
		})
	}
}

// FuzzModuleDeps: any modules and modules.dep pair parses or is refused, and
// loading by it ends (no dependency cycle can hang the boot).
func FuzzModuleDeps(f *testing.F) {
	f.Add("a\nb\nc\n", "a:\nb: a\nc: a b\n")
	f.Add("a\nb\n", "a: b\nb: a\n")
	f.Add("a\n", "a: a\n")
	f.Fuzz(func(t *testing.T, list, dep string) {
		dir := t.TempDir()
		os.WriteFile(dir+"/modules", []byte(list), 0o644)
		os.WriteFile(dir+"/modules.dep", []byte(dep), 0o644)
		paths, err := readModuleList(dir + "/modules")
		if err != nil {
			t.Fatal(err)
		}
		deps, err := readModuleDeps(dir + "/modules.dep")
		if err != nil {
			return
		}
		loadInOrder(paths, deps, "modules", func(string) error { return nil })
	})
}
