// Package sha256x2 computes two SHA-256 digests of equal-length messages at
// once. On x86-64 CPUs with the SHA extensions the two compressions are
// interleaved instruction by instruction: a single SHA-NI stream waits on
// each round's latency, two streams fill those gaps (the kernel's dm-verity
// does the same). Elsewhere it falls back to crypto/sha256.
//
// dm-verity hashes every block as sha256(salt || block) with one salt and one
// block size, so messages come in equal-length pairs.
package sha256x2

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

//go:generate go run gen.go

// Accelerated reports whether Sum2 runs the interleaved SHA-NI code. It is
// asked on first use, not at package init: CPUID traps to the hypervisor in
// a VM, and every keel command, verity or not, paid for it at start.
var Accelerated = sync.OnceValue(available)

// generic forces the portable code (tests).
var generic bool

var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// Sum2 sets *da = SHA-256(prefix || a) and *db = SHA-256(prefix || b).
// a and b must have the same length (it panics otherwise: a caller bug).
func Sum2(prefix, a, b []byte, da, db *[32]byte) {
	if len(a) != len(b) {
		panic("sha256x2: messages of different lengths")
	}
	if generic || !Accelerated() {
		sum2Generic(prefix, a, b, da, db)
		return
	}
	sa, sb := iv, iv
	// Whole blocks of the prefix alone are the same for both messages.
	pre := len(prefix) &^ 63
	if pre > 0 {
		blocks2(&sa, &sb, &prefix[0], &prefix[0], pre/64)
	}
	// The block that joins the prefix's tail to the messages' heads.
	var ba, bb [64]byte
	off := 0
	if r := len(prefix) - pre; r > 0 {
		off = min(64-r, len(a))
		copy(ba[:], prefix[pre:])
		copy(bb[:], prefix[pre:])
		copy(ba[r:], a[:off])
		copy(bb[r:], b[:off])
		if r+off == 64 {
			blocks2(&sa, &sb, &ba[0], &bb[0], 1)
		} else {
			// Everything fits before the padding: finish below.
			finish(&sa, &sb, ba[:r+off], bb[:r+off], uint64(len(prefix)+len(a)), da, db)
			return
		}
	}
	if n := (len(a) - off) / 64; n > 0 {
		blocks2(&sa, &sb, &a[off], &b[off], n)
		off += n * 64
	}
	finish(&sa, &sb, a[off:], b[off:], uint64(len(prefix)+len(a)), da, db)
}

// finish pads the last partial blocks (fewer than 64 bytes each) and
// writes the digests.
func finish(sa, sb *[8]uint32, ta, tb []byte, total uint64, da, db *[32]byte) {
	var pa, pb [128]byte
	copy(pa[:], ta)
	copy(pb[:], tb)
	pa[len(ta)], pb[len(tb)] = 0x80, 0x80
	n := 64
	if len(ta)+1+8 > 64 {
		n = 128
	}
	binary.BigEndian.PutUint64(pa[n-8:], total*8)
	binary.BigEndian.PutUint64(pb[n-8:], total*8)
	blocks2(sa, sb, &pa[0], &pb[0], n/64)
	for i := range 8 {
		binary.BigEndian.PutUint32(da[4*i:], sa[i])
		binary.BigEndian.PutUint32(db[4*i:], sb[i])
	}
}

func sum2Generic(prefix, a, b []byte, da, db *[32]byte) {
	h := sha256.New()
	for _, m := range []struct {
		msg []byte
		out *[32]byte
	}{{a, da}, {b, db}} {
		h.Reset()
		h.Write(prefix)
		h.Write(m.msg)
		h.Sum(m.out[:0])
	}
}
