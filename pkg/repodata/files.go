package repodata

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

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
// not depend on input order.
func SortPackages(pkgs []*Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		if c := rpm.Compare(a.EVR, b.EVR); c != 0 {
			return c < 0
		}
		return a.Href < b.Href
	})
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
	ids := make([][32]byte, len(bounds))
	reuse := make([]*stateChunk, len(bounds))
	var need []*Package
	start := 0
	for ci, end := range bounds {
		members := pkgs[start:end]
		ids[ci] = chunkID(members)
		if zst && opt.Previous != nil && opt.Previous.chunks[ids[ci]] != nil {
			reuse[ci] = opt.Previous.chunks[ids[ci]]
		} else {
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
	recs := make([]Record, len(kinds))
	frameLens := make([][]int, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pieces := make([][]byte, 0, len(bounds)+2)
			pieces = append(pieces, []byte(k.head))
			compressed := make([]bool, 0, len(bounds)+2)
			compressed = append(compressed, false)
			start := 0
			for ci, end := range bounds {
				if reuse[ci] != nil {
					pieces = append(pieces, reuse[ci].frames[i])
					compressed = append(compressed, true)
				} else {
					var c []byte
					for _, p := range pkgs[start:end] {
						c = append(c, k.frag(p)...)
					}
					pieces = append(pieces, c)
					compressed = append(compressed, false)
				}
				start = end
			}
			pieces = append(pieces, []byte(k.tail))
			compressed = append(compressed, false)
			recs[i], frameLens[i], errs[i] = writeOne(dir, k.typ, ext, opt, pieces, compressed)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if zst {
		if err := writeState(dir, recs, pkgs, bounds, ids, frameLens); err != nil {
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

// writeOne writes one metadata file from pieces (compressed[i]: piece i is
// already a zstd frame). For zstd it returns each frame's length.
func writeOne(dir, typ, ext string, opt WriteOptions, pieces [][]byte, compressed []bool) (Record, []int, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+typ+"-*")
	if err != nil {
		return Record{}, nil, fmt.Errorf("writing %s: %w", typ, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	stored := &countHash{h: sha256.New()}
	fileW := bufio.NewWriterSize(io.MultiWriter(tmp, stored), 256<<10)
	var lens []int
	switch opt.Compression {
	case Zstd, "":
		lens = make([]int, len(pieces))
		for i, p := range pieces {
			f := p
			if !compressed[i] {
				f = encoder().EncodeAll(p, nil)
			}
			lens[i] = len(f)
			fileW.Write(f)
		}
	default:
		var cw io.WriteCloser = nopWriteCloser{fileW}
		if opt.Compression == Gzip {
			cw, _ = gzip.NewWriterLevel(fileW, gzip.DefaultCompression)
		}
		for _, p := range pieces {
			if _, err := cw.Write(p); err != nil {
				return Record{}, nil, fmt.Errorf("writing %s: %w", typ, err)
			}
		}
		if err := cw.Close(); err != nil {
			return Record{}, nil, fmt.Errorf("compressing %s: %w", typ, err)
		}
	}
	if err := fileW.Flush(); err != nil {
		return Record{}, nil, fmt.Errorf("writing %s: %w", typ, err)
	}
	if !opt.NoSync {
		if err := tmp.Sync(); err != nil {
			return Record{}, nil, fmt.Errorf("syncing %s: %w", typ, err)
		}
	}
	sum := hex.EncodeToString(stored.h.Sum(nil))
	name := sum + "-" + typ + ".xml" + ext
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Record{}, nil, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return Record{}, nil, fmt.Errorf("writing %s: %w", typ, err)
	}
	// No open-checksum: it would mean decompressing and hashing every chunk
	// on each update, and dnf/librepo check the stored checksum, not this.
	return Record{Type: typ, Href: "repodata/" + name, Checksum: sum, Size: stored.n, Timestamp: opt.Timestamp}, lens, nil
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

// validHref accepts only clean relative paths inside the repository.
func validHref(h string) bool {
	if h == "" || strings.HasPrefix(h, "/") || strings.Contains(h, "\\") || strings.Contains(h, "://") {
		return false
	}
	c := path.Clean(h)
	return c == h && c != ".." && !strings.HasPrefix(c, "../")
}

// ValidHref reports whether href is a clean path inside the repository.
func ValidHref(h string) bool { return validHref(h) }
