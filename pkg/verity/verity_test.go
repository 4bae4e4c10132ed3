package verity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/verity/internal/sha256x2"
)

const uuidStr = "0b7e4d2a-6c1f-4a38-9d5e-2f60a1b3c4d5"

func testUUID() [16]byte {
	var u [16]byte
	h := strings.ReplaceAll(uuidStr, "-", "")
	for i := range u {
		var b byte
		for _, c := range h[2*i : 2*i+2] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			default:
				b |= byte(c - 'a' + 10)
			}
		}
		u[i] = b
	}
	return u
}

// TestMatchesVeritysetup compares Format with `veritysetup format` for sizes
// that exercise 0, 1, 2 and 3 tree levels and partial hash blocks.
func TestMatchesVeritysetup(t *testing.T) {
	testenv.RequireTool(t, "veritysetup")
	salt := bytes.Repeat([]byte{0xa5, 0x3c}, 16)
	cases := []struct {
		name   string
		blocks int
		bs     int
		salt   []byte
	}{
		{"one-block", 1, 4096, salt},
		{"two-blocks", 2, 4096, salt},
		{"one-full-hash-block", 128, 4096, salt},
		{"two-levels", 129, 4096, salt},
		{"odd", 1000, 4096, salt},
		{"three-levels", 128*128 + 5, 4096, salt},
		{"small-blocks-short-salt", 300, 512, []byte{1, 2, 3}},
		{"no-salt", 50, 4096, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := make([]byte, tc.blocks*tc.bs)
			rand.Read(data)
			dataPath := filepath.Join(dir, "data")
			if err := os.WriteFile(dataPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			p, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), &got, Options{Salt: tc.salt, UUID: testUUID(), BlockSize: tc.bs})
			if err != nil {
				t.Fatal(err)
			}
			if int64(got.Len()) != p.HashSize {
				t.Fatalf("HashSize %d, wrote %d", p.HashSize, got.Len())
			}
			hashPath := filepath.Join(dir, "hash")
			saltArg := "-"
			if len(tc.salt) > 0 {
				saltArg = hexs(tc.salt)
			}
			out, err := exec.Command("veritysetup", "format", "--salt", saltArg, "--uuid", uuidStr,
				"--data-block-size", strconv.Itoa(tc.bs), "--hash-block-size", strconv.Itoa(tc.bs), dataPath, hashPath).CombinedOutput()
			if err != nil {
				t.Fatalf("veritysetup format: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "Root hash:      \t"+p.RootHash.String()) {
				t.Errorf("root hash %s not in veritysetup output:\n%s", p.RootHash, out)
			}
			want, _ := os.ReadFile(hashPath)
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("hash device differs from veritysetup's: got %d bytes, want %d (first diff at %d)", got.Len(), len(want), firstDiff(got.Bytes(), want))
			}
			// veritysetup verify accepts our tree.
			if err := os.WriteFile(hashPath, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("veritysetup", "verify", dataPath, hashPath, p.RootHash.String()).CombinedOutput(); err != nil {
				t.Fatalf("veritysetup verify: %v\n%s", err, out)
			}
			sb, err := ParseSuperblock(got.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if sb.DataBlocks != p.DataBlocks || !bytes.Equal(sb.Salt, p.Salt) || sb.UUID != p.UUID {
				t.Fatalf("superblock round trip: %+v vs %+v", sb, p)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		o    Options
		want string
	}{
		{"empty", 0, Options{}, "not a positive multiple"},
		{"partial-block", 4097, Options{}, "not a positive multiple"},
		{"odd-block-size", 4096, Options{BlockSize: 3000}, "power of two"},
		{"huge-salt", 4096, Options{Salt: make([]byte, 257)}, "at most 256"},
		{"short-data", 8192, Options{}, "reading data block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Format(context.Background(), bytes.NewReader(make([]byte, 4096)), tc.size, &bytes.Buffer{}, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestFile covers the mapped-file path, including a file shorter than claimed.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 300*4096)
	rand.Read(data)
	p := filepath.Join(dir, "data")
	os.WriteFile(p, data, 0o644)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var a, b bytes.Buffer
	pf, err := Format(context.Background(), f, int64(len(data)), &a, Options{Salt: []byte{9}})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), &b, Options{Salt: []byte{9}})
	if err != nil || pf.RootHash != pm.RootHash || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("file and memory disagree: %v", err)
	}
	if _, err := Format(context.Background(), f, int64(len(data))+4096, &b, Options{}); err == nil || !strings.Contains(err.Error(), "reading data block") {
		t.Fatalf("short file: %v", err)
	}
}

func FuzzParseSuperblock(f *testing.F) {
	p := Params{Salt: []byte{1, 2}, DataBlockSize: 4096, HashBlockSize: 4096, DataBlocks: 7}
	f.Add(p.Superblock())
	f.Add([]byte("verity\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSuperblock(b)
		if err != nil {
			return
		}
		if q, err := ParseSuperblock(p.Superblock()); err != nil || q.DataBlocks != p.DataBlocks || !bytes.Equal(q.Salt, p.Salt) {
			t.Fatalf("round trip: %v %+v %+v", err, p, q)
		}
	})
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, d[c>>4], d[c&15])
	}
	return string(s)
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkFormat hashes 256 MiB held in memory (sha256-bound: compare with
// BenchmarkSHA256 times the number of cores).
func BenchmarkFormat(b *testing.B) {
	data := make([]byte, 256<<20)
	rand.Read(data)
	salt := bytes.Repeat([]byte{1}, 32)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), io.Discard, Options{Salt: salt}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256 is one core's SHA-256 speed on 4 KiB blocks: the limit.
func BenchmarkSHA256(b *testing.B) {
	blk := make([]byte, 4096)
	b.SetBytes(int64(len(blk)))
	for b.Loop() {
		sha256.Sum256(blk)
	}
}

// BenchmarkSHA256Limit is the level-0 work alone (salted 4 KiB blocks) on
// every core, data in cache and nothing else: the ceiling Format is measured
// against (bench/verity.sh).
func BenchmarkSHA256Limit(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, 32)
	b.SetBytes(4096)
	b.RunParallel(func(pb *testing.PB) {
		blk := make([]byte, 4096)
		var sum [32]byte
		h := sha256.New()
		for pb.Next() {
			h.Reset()
			h.Write(salt)
			h.Write(blk)
			h.Sum(sum[:0])
		}
	})
}

// BenchmarkSHA256x2Limit is the same work as BenchmarkSHA256Limit with the
// two-stream code Format uses (sha256x2): Keel's own ceiling.
func BenchmarkSHA256x2Limit(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, 32)
	b.SetBytes(2 * 4096)
	b.RunParallel(func(pb *testing.PB) {
		x, y := make([]byte, 4096), make([]byte, 4096)
		var dx, dy [32]byte
		for pb.Next() {
			sha256x2.Sum2(salt, x, y, &dx, &dy)
		}
	})
}
