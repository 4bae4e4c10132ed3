package repodata

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Compression of the metadata files.
type Compression string

// Supported compressions; zstd is the default (dnf ≥ 4 reads it).
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

func (c Compression) ext() (string, error) {
	switch c {
	case Zstd, "":
		return ".zst", nil
	case Gzip:
		return ".gz", nil
	case None:
		return "", nil
	}
	return "", fmt.Errorf("compression %q: want zstd, gzip or none", c)
}

// WriteOptions controls WriteMetadata.
type WriteOptions struct {
	Compression Compression
	Timestamp   int64  // repomd timestamps and revision (SOURCE_DATE_EPOCH)
	Previous    *State // the metadata being updated (ReadState): unchanged chunks are copied as they are
	NoSync      bool   // the caller syncs the filesystem itself
}

// SortPackages orders packages by name, arch, EVR and href so output does
// not depend on input order. An update's list is mostly in order already:
// checking that first costs one pass.
func SortPackages(pkgs []*Package) {
	if !slices.IsSortedFunc(pkgs, comparePackages) {
		slices.SortStableFunc(pkgs, comparePackages)
	}
}

func comparePackages(a, b *Package) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Arch, b.Arch); c != 0 {
		return c
	}
	if c := rpm.Compare(a.EVR, b.EVR); c != 0 {
		return c
	}
	return strings.Compare(a.Href, b.Href)
}

// WriteMetadata writes primary, filelists and other for pkgs into dir (the
// directory served as repodata/) under content-addressed names
// (<sha256>-<type>.xml.zst), each via a temp file, plus the .keel-state that
// lets the next update skip decompression, and returns the repomd that
// references them. Nothing is replaced: repomd.xml itself is the caller's to
// publish. Packages without fragments (from ReadState) get them from
// opt.Previous when their chunk changed.
func WriteMetadata(dir string, pkgs []*Package, opt WriteOptions) (*Repomd, error) {
	ext, err := opt.Compression.ext()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("repodata dir: %w", err)
	}
	SortPackages(pkgs)
	zst := opt.Compression == Zstd || opt.Compression == ""
	bounds := chunkBounds(pkgs)
	reuse := make([]*stateChunk, len(bounds))
	var need []*Package
	start := 0
	for ci, end := range bounds {
		members := pkgs[start:end]
		if zst && opt.Previous != nil {
			reuse[ci] = reusable(members)
		}
		if reuse[ci] == nil {
			for _, p := range members {
				if p.Primary == nil || p.Filelists == nil || p.Other == nil {
					need = append(need, p)
				}
			}
		}
		start = end
	}
	if len(need) > 0 {
		if opt.Previous == nil {
			return nil, fmt.Errorf("package %s has no metadata to write", need[0].Href)
		}
		if err := opt.Previous.load(need); err != nil {
			return nil, err
		}
	}
	n := strconv.Itoa(len(pkgs))
	kinds := []struct {
		typ, head, tail string
		frag            func(*Package) []byte
	}{
		{"primary", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"" + NSCommon + "\" xmlns:rpm=\"" + NSRpm + "\" packages=\"" + n + "\">\n", "</metadata>\n", func(p *Package) []byte { return p.Primary }},
		{"filelists", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"" + NSFilelists + "\" packages=\"" + n + "\">\n", "</filelists>\n", func(p *Package) []byte { return p.Filelists }},
		{"other", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"" + NSOther + "\" packages=\"" + n + "\">\n", "</otherdata>\n", func(p *Package) []byte { return p.Other }},
	}
	// pieces[i]: file i's head, one piece per chunk, tail; raw XML except
	// the re-used chunks' frames (isFrame).
	pieces := make([][][]byte, len(kinds))
	isFrame := make([][]bool, len(kinds))
	for i, k := range kinds {
		ps := append(make([][]byte, 0, len(bounds)+2), []byte(k.head))
		fr := append(make([]bool, 0, len(bounds)+2), false)
		start := 0
		for ci, end := range bounds {
			if reuse[ci] != nil {
				ps, fr = append(ps, reuse[ci].frames[i]), append(fr, true)
			} else {
				n := 0
				for _, p := range pkgs[start:end] {
					n += len(k.frag(p))
				}
				c := make([]byte, 0, n)
				for _, p := range pkgs[start:end] {
					c = append(c, k.frag(p)...)
				}
				ps, fr = append(ps, c), append(fr, false)
			}
			start = end
		}
		pieces[i], isFrame[i] = append(ps, []byte(k.tail)), append(fr, false)
	}
	recs := make([]Record, len(kinds))
	frameLens := make([][]int, len(kinds))
	if zst {
		// Compress every new frame of the three files in one batch (an
		// update: a handful of frames, one encoder), then write the files.
		var raw [][]byte
		for i := range pieces {
			for j, p := range pieces[i] {
				if !isFrame[i][j] {
					raw = append(raw, p)
				}
			}
		}
		enc := encodeFrames(raw)
		for i := range pieces {
			for j := range pieces[i] {
				if !isFrame[i][j] {
					pieces[i][j], enc = enc[0], enc[1:]
				}
			}
			lens := make([]int, len(pieces[i]))
			for j, p := range pieces[i] {
				lens[j] = len(p)
			}
			frameLens[i] = lens
			if recs[i], err = writeOne(dir, kinds[i].typ, ext, opt, pieces[i]); err != nil {
				return nil, err
			}
		}
		if err := writeState(dir, recs, pkgs, bounds, frameLens, reuse); err != nil {
			return nil, err
		}
	} else {
		errs := make([]error, len(kinds))
		var wg sync.WaitGroup
		for i, k := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs[i], errs[i] = writeOne(dir, k.typ, ext, opt, pieces[i])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return &Repomd{Revision: strconv.FormatInt(opt.Timestamp, 10), Records: recs}, nil
}

type countHash struct {
	h hash.Hash
	n int64
}

func (c *countHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// writeOne writes one metadata file from pieces: zstd frames as they are,
// else compressed as one stream.
func writeOne(dir, typ, ext string, opt WriteOptions, pieces [][]byte) (Record, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+typ+"-*")
	if err != nil {
		return Record{}, fmt.Errorf("writing %s: %w", typ, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	stored := &countHash{h: sha256.New()}
	if ext == ".zst" {
		// Frames go out as they are, in one writev: no copy, no buffer.
		for _, p := range pieces {
			stored.Write(p)
		}
		if err := writev(tmp, pieces); err != nil {
			return Record{}, fmt.Errorf("writing %s: %w", typ, err)
		}
	} else {
		fileW := bufio.NewWriterSize(io.MultiWriter(tmp, stored), 256<<10)
		var cw io.WriteCloser = nopWriteCloser{fileW}
		if opt.Compression == Gzip {
			cw, _ = gzip.NewWriterLevel(fileW, gzip.DefaultCompression)
		}
		for _, p := range pieces {
			if _, err := cw.Write(p); err != nil {
				return Record{}, fmt.Errorf("writing %s: %w", typ, err)
			}
		}
		if err := cw.Close(); err != nil {
			return Record{}, fmt.Errorf("compressing %s: %w", typ, err)
		}
		if err := fileW.Flush(); err != nil {
			return Record{}, fmt.Errorf("writing %s: %w", typ, err)
		}
	}
	if !opt.NoSync {
		if err := tmp.Sync(); err != nil {
			return Record{}, fmt.Errorf("syncing %s: %w", typ, err)
		}
	}
	sum := hex.EncodeToString(stored.h.Sum(nil))
	name := sum + "-" + typ + ".xml" + ext
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Record{}, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return Record{}, fmt.Errorf("writing %s: %w", typ, err)
	}
	// No open-checksum: it would mean decompressing and hashing every chunk
	// on each update, and dnf/librepo check the stored checksum, not this.
	return Record{Type: typ, Href: "repodata/" + name, Checksum: sum, Size: stored.n, Timestamp: opt.Timestamp}, nil
}

// writev writes pieces to f in as few system calls as the kernel allows
// (at most 1024 pieces a call, short writes continued).
func writev(f *os.File, pieces [][]byte) error {
	rest := make([][]byte, 0, len(pieces))
	for _, p := range pieces {
		if len(p) > 0 {
			rest = append(rest, p)
		}
	}
	fd := int(f.Fd())
	for len(rest) > 0 {
		n, err := unix.Writev(fd, rest[:min(len(rest), 1024)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: f.Name(), Err: err}
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		for n > 0 {
			if n >= len(rest[0]) {
				n -= len(rest[0])
				rest = rest[1:]
			} else {
				rest[0] = rest[0][n:]
				n = 0
			}
		}
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// ReadRecord reads a metadata file named by rec under repoDir, checking its
// size and checksum, and returns the uncompressed content.
func ReadRecord(repoDir string, rec *Record) ([]byte, error) {
	if !validHref(rec.Href) {
		return nil, fmt.Errorf("repomd.xml: %s: location %q leaves the repository", rec.Type, rec.Href)
	}
	p := filepath.Join(repoDir, filepath.FromSlash(rec.Href))
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s metadata: %w", rec.Type, err)
	}
	return DecodeRecord(rec, raw)
}

// DecodeRecord checks raw, the metadata file rec names as stored, against
// rec's checksum and returns the uncompressed content (for metadata that
// came from elsewhere than a local directory: a download, a cache).
func DecodeRecord(rec *Record, raw []byte) ([]byte, error) {
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != rec.Checksum {
		return nil, fmt.Errorf("%s: checksum %x does not match repomd.xml's %s", rec.Href, sum, rec.Checksum)
	}
	var r io.Reader = bytes.NewReader(raw)
	switch {
	case strings.HasSuffix(rec.Href, ".zst"):
		out, err := decodeFrames(raw, rec.OpenSize)
		if err != nil {
			return nil, fmt.Errorf("%s: decompressing: %w", rec.Href, err)
		}
		return checkOpen(rec, out)
	case strings.HasSuffix(rec.Href, ".gz"):
		d, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rec.Href, err)
		}
		r = d
	case strings.HasSuffix(rec.Href, ".xz"):
		d, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rec.Href, err)
		}
		r = d
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: decompressing: %w", rec.Href, err)
	}
	return checkOpen(rec, out)
}

// checkOpen only checks the size: the stored file's sha256 was verified, and
// decompression is deterministic, so hashing the content again proves nothing.
func checkOpen(rec *Record, out []byte) ([]byte, error) {
	if rec.OpenSize != 0 && int64(len(out)) != rec.OpenSize {
		return nil, fmt.Errorf("%s: %d bytes uncompressed, repomd.xml says %d", rec.Href, len(out), rec.OpenSize)
	}
	return out, nil
}

// validHref accepts only clean relative paths inside the repository:
// path.Clean would not change them, and no part is "..". One pass, no
// allocation: an update checks every package's.
func validHref(h string) bool {
	if h == "" || strings.Contains(h, "\\") || strings.Contains(h, "://") {
		return false
	}
	for seg := range strings.SplitSeq(h, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ValidHref reports whether href is a clean path inside the repository.
func ValidHref(h string) bool { return validHref(h) }
