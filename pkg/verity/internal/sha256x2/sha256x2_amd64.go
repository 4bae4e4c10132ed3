//go:build !purego

package sha256x2

import "golang.org/x/sys/cpu"

// blocks2 runs the SHA-256 compression over n 64-byte blocks at pa into
// state a and over n blocks at pb into state b, interleaved.
//
//go:noescape
func blocks2(a, b *[8]uint32, pa, pb *byte, n int)

func cpuid(leaf, sub uint32) (eax, ebx uint32)

// available: the SHA extensions (CPUID leaf 7, EBX bit 29), plus SSSE3,
// SSE4.1 and AVX (VEX encodings; x/sys/cpu also checks the OS saves the
// AVX state).
func available() bool {
	if max, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, ebx := cpuid(7, 0)
	return ebx&(1<<29) != 0 && cpu.X86.HasAVX && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3
}
