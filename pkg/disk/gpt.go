// Package disk writes raw GPT disk images (UEFI spec ch. 5: protective MBR,
// primary header at LBA 1, 128 entries from LBA 2, backup entries and header
// at the end), partitions 1 MiB-aligned, GUIDs derived from a seed so builds
// are reproducible; a FAT ESP through mkfs.vfat and mtools; and qcow2 / fixed
// VHD copies through qemu-img.
package disk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"unicode/utf16"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

const (
	sectorSize = 512
	// Align is where partitions start and how their sizes round: 1 MiB, what
	// Azure and most hypervisors want.
	Align      = 1 << 20
	numEntries = 128
	entrySize  = 128
)

// GUID is a GUID in its text byte order (as printed); GPT stores the first
// three fields little-endian.
type GUID [16]byte

// ParseGUID reads "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	if _, err := hex.Decode(g[:], []byte(h)); err != nil {
		return g, fmt.Errorf("GUID %q: %w", s, err)
	}
	return g, nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// mixed returns GPT's on-disk byte order.
func (g GUID) mixed() []byte {
	b := make([]byte, 16)
	copy(b, g[:])
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	return b
}

// SeededGUID derives a version-4-shaped GUID from a seed and a name.
func SeededGUID(seed, name string) GUID {
	sum := sha256.Sum256([]byte("keel-disk-guid\x00" + seed + "\x00" + name))
	var g GUID
	copy(g[:], sum[:16])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// Partition type GUIDs (UEFI spec; Discoverable Partitions Specification for
// the x86-64 root and its verity hash).
var (
	TypeESP          = mustGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	TypeRootX86_64   = mustGUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	TypeVerityX86_64 = mustGUID("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5")
	TypeLinuxData    = mustGUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
)

// Partition is one GPT entry and what fills it.
type Partition struct {
	Name   string // GPT name (at most 36 UTF-16 units)
	Type   GUID
	GUID   GUID  // zero: SeededGUID(Options.Seed, Name)
	Size   int64 // bytes, rounded up to Align; 0: the source's size
	Source string
	// Attributes are the GPT attribute bits (e.g. 1<<60 read-only).
	Attributes uint64
}

// Options describe a disk.
type Options struct {
	Out        string // raw image, written atomically
	Seed       string // GUIDs derive from it (and partition names)
	DiskGUID   GUID   // zero: SeededGUID(Seed, "disk")
	Partitions []Partition
}

// Placed is a partition as laid out.
type Placed struct {
	Partition
	Number int   // 1-based
	Offset int64 // bytes from the start of the disk
}

// Layout is where everything went.
type Layout struct {
	Size       int64
	DiskGUID   GUID
	Partitions []Placed
}

// Find returns the partition with the given name.
func (l *Layout) Find(name string) (Placed, bool) {
	for _, p := range l.Partitions {
		if p.Name == name {
			return p, true
		}
	}
	return Placed{}, false
}

// Plan computes the layout without writing anything.
func Plan(o Options) (*Layout, error) {
	if len(o.Partitions) == 0 || len(o.Partitions) > numEntries {
		return nil, fmt.Errorf("disk: %d partitions: want 1 to %d", len(o.Partitions), numEntries)
	}
	l := &Layout{DiskGUID: o.DiskGUID}
	if l.DiskGUID == (GUID{}) {
		l.DiskGUID = SeededGUID(o.Seed, "disk")
	}
	off := int64(Align) // room for the MBR, header and 128 entries
	seen := map[string]bool{}
	for i, p := range o.Partitions {
		if p.Name == "" || len(utf16.Encode([]rune(p.Name))) > 36 {
			return nil, fmt.Errorf("disk: partition %d: name %q must be 1 to 36 UTF-16 units", i+1, p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("disk: partition name %q used twice", p.Name)
		}
		seen[p.Name] = true
		if p.Type == (GUID{}) {
			return nil, fmt.Errorf("disk: partition %s: no type GUID", p.Name)
		}
		var srcSize int64
		if p.Source != "" {
			fi, err := os.Stat(p.Source)
			if err != nil {
				return nil, fmt.Errorf("disk: partition %s: %w", p.Name, err)
			}
			srcSize = fi.Size()
		}
		size := p.Size
		if size == 0 {
			size = srcSize
		}
		if size <= 0 {
			return nil, fmt.Errorf("disk: partition %s: no size and no source", p.Name)
		}
		if srcSize > size {
			return nil, fmt.Errorf("disk: partition %s is too small: %d bytes for a %d-byte source %s", p.Name, size, srcSize, p.Source)
		}
		p.Size = (size + Align - 1) / Align * Align
		if p.GUID == (GUID{}) {
			p.GUID = SeededGUID(o.Seed, p.Name)
		}
		l.Partitions = append(l.Partitions, Placed{Partition: p, Number: i + 1, Offset: off})
		off += p.Size
	}
	l.Size = off + Align // backup GPT (33 sectors) plus alignment
	return l, nil
}

// Build writes the raw disk to o.Out.
func Build(ctx context.Context, o Options) (*Layout, error) {
	l, err := Plan(o)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, errors.New("disk: no output path")
	}
	err = atomicfile.Write(o.Out, 0o644, func(f *os.File) error {
		if err := f.Truncate(l.Size); err != nil {
			return err
		}
		if _, err := f.WriteAt(l.headers(), 0); err != nil {
			return err
		}
		primary, backup := l.gpt()
		if _, err := f.WriteAt(primary, sectorSize); err != nil {
			return err
		}
		if _, err := f.WriteAt(backup, l.Size-int64(len(backup))); err != nil {
			return err
		}
		for _, p := range l.Partitions {
			if err := ctx.Err(); err != nil {
				return err
			}
			if p.Source == "" {
				continue
			}
			if err := copyInto(f, p.Offset, p.Source); err != nil {
				return fmt.Errorf("disk: partition %s: %w", p.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func copyInto(f *os.File, off int64, src string) error {
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err = io.Copy(f, s) // copy_file_range where the kernel can
	return err
}

// headers is the protective MBR.
func (l *Layout) headers() []byte {
	mbr := make([]byte, sectorSize)
	e := mbr[446:]
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xee
	e[5], e[6], e[7] = 0xff, 0xff, 0xff
	binary.LittleEndian.PutUint32(e[8:], 1)
	n := uint64(l.Size/sectorSize - 1)
	if n > 0xffffffff {
		n = 0xffffffff
	}
	binary.LittleEndian.PutUint32(e[12:], uint32(n))
	mbr[510], mbr[511] = 0x55, 0xaa
	return mbr
}

// gpt returns the primary header+entries (from LBA 1) and the backup
// entries+header (ending at the last LBA).
func (l *Layout) gpt() (primary, backup []byte) {
	le := binary.LittleEndian
	lastLBA := uint64(l.Size/sectorSize - 1)
	entSectors := uint64(numEntries * entrySize / sectorSize)
	ents := make([]byte, numEntries*entrySize)
	for i, p := range l.Partitions {
		e := ents[i*entrySize:]
		copy(e[0:], p.Type.mixed())
		copy(e[16:], p.GUID.mixed())
		le.PutUint64(e[32:], uint64(p.Offset/sectorSize))
		le.PutUint64(e[40:], uint64((p.Offset+p.Size)/sectorSize-1))
		le.PutUint64(e[48:], p.Attributes)
		for j, u := range utf16.Encode([]rune(p.Name)) {
			le.PutUint16(e[56+2*j:], u)
		}
	}
	entCRC := crc32.ChecksumIEEE(ents)
	header := func(cur, alt, entLBA uint64) []byte {
		h := make([]byte, sectorSize)
		copy(h, "EFI PART")
		le.PutUint32(h[8:], 0x00010000)
		le.PutUint32(h[12:], 92)
		le.PutUint64(h[24:], cur)
		le.PutUint64(h[32:], alt)
		le.PutUint64(h[40:], 2+entSectors)         // first usable LBA
		le.PutUint64(h[48:], lastLBA-entSectors-1) // last usable LBA
		copy(h[56:], l.DiskGUID.mixed())
		le.PutUint64(h[72:], entLBA)
		le.PutUint32(h[80:], numEntries)
		le.PutUint32(h[84:], entrySize)
		le.PutUint32(h[88:], entCRC)
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	primary = append(header(1, lastLBA, 2), ents...)
	backup = append(append([]byte{}, ents...), header(lastLBA, 1, lastLBA-entSectors)...)
	return primary, backup
}
