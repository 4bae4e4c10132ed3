//go:build !linux

package early

func prefaultHeap(uintptr) uintptr { return 0 }
