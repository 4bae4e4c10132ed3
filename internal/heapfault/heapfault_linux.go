package heapfault

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14): map pages in,
// writable, without changing what they hold.
const madvPopulateWrite = 23

// step is how much one madvise maps in: short calls, so that the mmap lock
// is not held long and Until looks at ready often.
const step = 256 << 10

// probe is the allocation newRegion finds the heap's frontier with; kept
// in a package variable so that it is a heap object, never a stack one.
var probe []byte

type region struct{ start, done uintptr }

func newRegion() *region {
	// A 128 KiB object is a large allocation: the page allocator places it
	// at the lowest free address, which is where the next spans and large
	// objects come from.
	probe = make([]byte, 128<<10)
	return &region{start: uintptr(unsafe.Pointer(unsafe.SliceData(probe))) + uintptr(len(probe))}
}

// step maps in the next 256 KiB, and reports false at the first error: a
// kernel without the advice (EINVAL) or the end of the heap mapped so far
// (ENOMEM).
func (r *region) step() bool {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, r.start+r.done, step, madvPopulateWrite); e != 0 {
		return false
	}
	r.done += step
	return true
}
