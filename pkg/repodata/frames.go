package repodata

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Metadata files are written as a sequence of independent zstd frames (a
// valid zstd stream: frames concatenate): one for the XML head, one per
// chunk of packages, one for the tail. Chunk boundaries depend only on the
// packages (content-defined), so adding a package changes one chunk, and an
// update re-uses every other chunk's compressed bytes instead of compressing
// the whole file again. The output depends only on the package set.

const (
	maxChunk = 128 // packages; bounds a chunk when boundaries are rare
)

// chunkEnd reports a content-defined boundary after p (1 in 32 packages).
func chunkEnd(p *Package) bool {
	return len(p.PkgID) >= 2 && (p.PkgID[0] == '0') && p.PkgID[1] < '8'
}

// Encoders are made on first use: an update that re-uses every chunk never
// pays for them. SpeedFastest: its one 256 KiB table is cheap to fault in
// for the few frames an update compresses (the default level's 1.25 MiB of
// tables per encoder cost more than the compression itself), and the files
// are still a fifth of the XML.
var (
	// soloEncoder has one encoder state, so frames compressed one after
	// another touch one set of tables (EncodeAll rotates through states).
	soloEncoder = sync.OnceValue(func() *zstd.Encoder { return newEncoder(1) })
	// parEncoder has one state per core for a full index.
	parEncoder = sync.OnceValue(func() *zstd.Encoder { return newEncoder(runtime.GOMAXPROCS(0)) })
	decoder    = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4<<30), zstd.WithDecoderLowmem(true))
		return d
	})
)

func newEncoder(n int) *zstd.Encoder {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(n),
		zstd.WithWindowSize(1<<20), zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
	return e
}

// parallelFrames is where compressing on every core starts to pay for the
// extra encoder states and threads.
const parallelFrames = 12

// encodeFrames compresses each raw piece into its own frame. The output
// does not depend on which encoder state compressed a frame.
func encodeFrames(raw [][]byte) [][]byte {
	out := make([][]byte, len(raw))
	if len(raw) < parallelFrames {
		e := soloEncoder()
		for i, r := range raw {
			out[i] = e.EncodeAll(r, nil)
		}
		return out
	}
	e := parEncoder()
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = e.EncodeAll(raw[i], nil)
			}
		}()
	}
	for i := range raw {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// splitFrames cuts a zstd stream into its frames (skippable frames included
// as their own entries).
func splitFrames(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		n, err := frameLen(b[off:])
		if err != nil {
			return nil, fmt.Errorf("zstd frame at byte %d: %w", off, err)
		}
		out = append(out, b[off:off+n:off+n])
		off += n
	}
	return out, nil
}

func frameLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("truncated magic")
	}
	magic := binary.LittleEndian.Uint32(b)
	if magic&0xFFFFFFF0 == 0x184D2A50 { // skippable frame
		if len(b) < 8 {
			return 0, fmt.Errorf("truncated skippable frame")
		}
		n := 8 + int(binary.LittleEndian.Uint32(b[4:]))
		if n > len(b) {
			return 0, fmt.Errorf("truncated skippable frame")
		}
		return n, nil
	}
	if magic != 0xFD2FB528 {
		return 0, fmt.Errorf("bad magic %08x", magic)
	}
	if len(b) < 5 {
		return 0, fmt.Errorf("truncated header")
	}
	fhd := b[4]
	single := fhd&0x20 != 0
	off := 5
	if !single {
		off++
	}
	off += []int{0, 1, 2, 4}[fhd&3]
	switch fhd >> 6 {
	case 0:
		if single {
			off++
		}
	case 1:
		off += 2
	case 2:
		off += 4
	case 3:
		off += 8
	}
	for {
		if off+3 > len(b) {
			return 0, fmt.Errorf("truncated block header")
		}
		h := uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16
		off += 3
		size := int(h >> 3)
		switch (h >> 1) & 3 {
		case 1:
			size = 1
		case 3:
			return 0, fmt.Errorf("reserved block type")
		}
		off += size
		if off > len(b) {
			return 0, fmt.Errorf("truncated block")
		}
		if h&1 != 0 {
			break
		}
	}
	if fhd&4 != 0 {
		off += 4
	}
	if off > len(b) {
		return 0, fmt.Errorf("truncated checksum")
	}
	return off, nil
}

// decodeFrames decompresses a zstd stream frame by frame.
func decodeFrames(b []byte, sizeHint int64) ([]byte, error) {
	d := decoder()
	parts, err := splitFrames(b)
	if err != nil {
		return nil, err
	}
	var out []byte
	if sizeHint > 0 && sizeHint < 1<<30 {
		// DecodeAll grows dst by each frame's exact size: without room up
		// front, appending frames copies quadratically.
		out = make([]byte, 0, sizeHint)
	}
	for _, f := range parts {
		if binary.LittleEndian.Uint32(f)&0xFFFFFFF0 == 0x184D2A50 {
			continue
		}
		// Room for the frame first, growing geometrically: DecodeAll
		// alone would copy everything decoded so far for every frame.
		var h zstd.Header
		if h.Decode(f) == nil && h.HasFCS && h.FrameContentSize < 1<<26 {
			out = slices.Grow(out, int(h.FrameContentSize))
		}
		out, err = d.DecodeAll(f, out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
