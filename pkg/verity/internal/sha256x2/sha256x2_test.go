package sha256x2

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// check compares Sum2 with crypto/sha256 on both messages.
func check(t testing.TB, prefix, a, b []byte) {
	t.Helper()
	var da, db [32]byte
	Sum2(prefix, a, b, &da, &db)
	wa := sha256.Sum256(append(append([]byte(nil), prefix...), a...))
	wb := sha256.Sum256(append(append([]byte(nil), prefix...), b...))
	if da != wa || db != wb {
		t.Fatalf("prefix %d bytes, messages %d bytes: got %x %x, want %x %x", len(prefix), len(a), da, db, wa, wb)
	}
}

func TestSum2(t *testing.T) {
	t.Logf("accelerated: %v", Accelerated())
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	// Every prefix length dm-verity allows (salts up to 256 bytes) around
	// the block boundaries, and the message lengths around them too.
	for pl := 0; pl <= 256; pl++ {
		for _, ml := range []int{0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 128, 512, 4096} {
			check(t, rnd(pl), rnd(ml), rnd(ml))
		}
	}
	for range 200 {
		ml := r.IntN(9000)
		check(t, rnd(r.IntN(300)), rnd(ml), rnd(ml))
	}
	// Equal messages must give equal digests (no cross-talk between the streams).
	m := rnd(4096)
	check(t, rnd(32), m, m)
}

func TestGenericMatches(t *testing.T) {
	if !Accelerated() {
		t.Skip("no SHA-NI: Sum2 is the generic code")
	}
	generic = true
	defer func() { generic = false }()
	check(t, []byte("salt"), make([]byte, 4096), make([]byte, 4096))
}

func FuzzSum2(f *testing.F) {
	f.Add([]byte("salt"), []byte("a"), []byte("b"))
	f.Add(make([]byte, 32), make([]byte, 4096), make([]byte, 4096))
	f.Fuzz(func(t *testing.T, prefix, a, b []byte) {
		n := min(len(a), len(b))
		check(t, prefix, a[:n], b[:n])
	})
}

// BenchmarkSum2 hashes pairs of salted 4 KiB blocks (dm-verity's work), one core.
func BenchmarkSum2(b *testing.B) {
	salt, x, y := make([]byte, 32), make([]byte, 4096), make([]byte, 4096)
	var da, db [32]byte
	b.SetBytes(2 * 4096)
	for b.Loop() {
		Sum2(salt, x, y, &da, &db)
	}
}

// BenchmarkStdlib is the same work with crypto/sha256, one message at a time.
func BenchmarkStdlib(b *testing.B) {
	salt, x := make([]byte, 32), make([]byte, 4096)
	var d [32]byte
	h := sha256.New()
	b.SetBytes(4096)
	for b.Loop() {
		h.Reset()
		h.Write(salt)
		h.Write(x)
		h.Sum(d[:0])
	}
}
