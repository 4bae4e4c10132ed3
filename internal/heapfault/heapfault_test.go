package heapfault

import "testing"

// TestUntil: no more than min is mapped when ready is closed, no more than
// max when it never is (less when the heap mapped so far ends first), and
// the pages read as zero when the allocator hands them out, like any fresh
// memory.
func TestUntil(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	got := Until(closed, 512<<10, 4<<20)
	if got == 0 {
		t.Skip("no MADV_POPULATE_WRITE here (not Linux, or a kernel before 5.14)")
	}
	if got > 512<<10 {
		t.Errorf("ready closed: mapped %d bytes, more than the minimum %d", got, 512<<10)
	}
	if got := Until(make(chan struct{}), 0, 1<<20); got > 1<<20 {
		t.Errorf("never ready: mapped %d bytes, more than the maximum %d", got, 1<<20)
	}
	for range 8 {
		b := make([]byte, 200<<10)
		for i, c := range b {
			if c != 0 {
				t.Fatalf("fresh allocation has byte %d = %#x", i, c)
			}
		}
		keep = append(keep, b)
	}
}

var keep [][]byte
