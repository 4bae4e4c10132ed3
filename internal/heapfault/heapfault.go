// Package heapfault maps in, ahead of time, the Go heap a short command is
// about to allocate.
//
// keel runs with the GC off (cmd/keel's tuneGC), so every allocation of a
// short command is a fresh page, and faulting them in one at a time was a
// sixth of a one-package repository update: 1.3 µs a page, against 0.9 µs a
// page mapped in by one madvise(MADV_POPULATE_WRITE). A page that is read
// before it is written costs two faults, the second a copy-on-write one:
// 3.5 µs on its own, and 16–22 µs while another thread of the process runs
// on the other vCPU (the TLB shoot-down is an IPI; measured on this kind of
// 2-vCPU machine). zstd's 256 KiB hash table is such a region: its entries
// are read before they are filled.
//
// It is an optimisation only: populating never changes what a page holds,
// and on a kernel without the advice (before 5.14) or off Linux nothing
// happens.
package heapfault

// Until maps in the heap above the allocator's frontier in 256 KiB steps:
// at least min bytes, then more while ready is open, up to max. It returns
// how many bytes it mapped. It is meant for a wait that would otherwise be
// idle (another goroutine finishing work the caller needs next), run on the
// caller's own thread: populating from a second thread while the first
// allocates would race it, and every copy-on-write fault the first takes
// meanwhile would cost an IPI.
func Until(ready <-chan struct{}, min, max uintptr) uintptr {
	r := newRegion()
	for r.done < max {
		if r.done >= min {
			select {
			case <-ready:
				return r.done
			default:
			}
		}
		if !r.step() {
			break
		}
	}
	return r.done
}
