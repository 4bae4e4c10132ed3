package repodata

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"
)

// StateFile sits next to repomd.xml: for each zstd chunk, its frames'
// places in the three files and its packages' identities. It is a cache:
// when missing or inconsistent, ReadState decompresses the metadata instead.
//
// Format (one record a line, tab-separated; strings raw unless they hold a
// tab, newline, quote, backslash or control byte, then Go-quoted):
//
//	keel-repodata-state 3
//	file	primary	<href>          (then filelists, other)
//	chunk	<packages>	<offset>	<length>	… (one pair per file)
//	pkg	<pkgid>	<size>	<mtime>	<epoch>	<name>	<version>	<release>	<arch>	<href>
//	crc32c	<8 hex digits>     (of every byte before this line)
//
// The chunks tile each file exactly: the first starts where the head frame
// ends, each starts where the one before ended, and one frame (the tail)
// follows the last. With the CRC, a truncated or damaged state file is
// found stale instead of describing fewer packages than the metadata holds
// (which would make an update drop the others).
const StateFile = ".keel-state"

const stateMagic = "keel-repodata-state 3"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// State is the previous metadata as an update needs it.
type State struct {
	Repomd   *Repomd    // the repomd.xml read
	Packages []*Package // fragments loaded lazily
	chunks   int
}

// stateChunk is a run of packages whose XML sits, compressed, in one frame
// of each metadata file.
type stateChunk struct {
	frames  [3][]byte // compressed primary, filelists, other frames
	members []*Package
	lines   string // the members' pkg lines in the state file, copied as they are when the chunk is re-used
	loaded  bool
}

// chunkBounds cuts sorted packages into content-defined chunks (end indexes).
func chunkBounds(pkgs []*Package) []int {
	var bounds []int
	start := 0
	for i, p := range pkgs {
		if chunkEnd(p) || i+1-start >= maxChunk || i == len(pkgs)-1 {
			bounds = append(bounds, i+1)
			start = i + 1
		}
	}
	return bounds
}

// reusable returns the previous chunk whose frames hold exactly members'
// XML, or nil. The members must be the very packages ReadState returned for
// it, in order: a chunk's XML depends on nothing else (file checksum, place,
// size and mtime are what made those packages unchanged).
func reusable(members []*Package) *stateChunk {
	c := members[0].chunk
	if c == nil || len(c.members) != len(members) {
		return nil
	}
	for i, m := range members {
		if c.members[i] != m {
			return nil
		}
	}
	return c
}

// appendField appends s as a state field.
func appendField(b []byte, s string) []byte {
	b = append(b, '\t')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}

func parseField(f string) (string, bool) {
	if strings.HasPrefix(f, `"`) {
		s, err := strconv.Unquote(f)
		return s, err == nil
	}
	return f, true
}

func writeState(dir string, recs []Record, pkgs []*Package, bounds []int, lens [][]int, reuse []*stateChunk) error {
	f, err := os.Create(filepath.Join(dir, StateFile))
	if err != nil {
		return err
	}
	defer f.Close()
	// Lines are formatted in place in a small buffer (fresh memory costs
	// more than the write calls): each starts from AvailableBuffer.
	sum := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, sum), 32<<10)
	w.WriteString(stateMagic + "\n")
	for _, r := range recs {
		b := append(w.AvailableBuffer(), "file"...)
		b = appendField(appendField(b, r.Type), r.Href)
		w.Write(append(b, '\n'))
	}
	offs := make([]int, len(recs))
	for i := range recs {
		offs[i] = lens[i][0] // after the head frame
	}
	start := 0
	for ci, end := range bounds {
		b := strconv.AppendInt(append(w.AvailableBuffer(), "chunk\t"...), int64(end-start), 10)
		for i := range recs {
			l := lens[i][ci+1]
			b = strconv.AppendInt(append(b, '\t'), int64(offs[i]), 10)
			b = strconv.AppendInt(append(b, '\t'), int64(l), 10)
			offs[i] += l
		}
		w.Write(append(b, '\n'))
		if reuse[ci] != nil {
			w.WriteString(reuse[ci].lines)
			start = end
			continue
		}
		for _, p := range pkgs[start:end] {
			b := append(append(w.AvailableBuffer(), "pkg\t"...), p.PkgID...)
			for _, n := range []int64{p.Size, p.Mtime, int64(p.EVR.Epoch)} {
				b = strconv.AppendInt(append(b, '\t'), n, 10)
			}
			for _, s := range []string{p.Name, p.EVR.Version, p.EVR.Release, p.Arch, p.Href} {
				b = appendField(b, s)
			}
			w.Write(append(b, '\n'))
		}
		start = end
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "crc32c\t%08x\n", sum.Sum32()); err != nil {
		return err
	}
	return f.Close()
}

// ReadState reads the current metadata of repoDir for an update: from the
// state file when it matches repomd.xml (no decompression), else by reading
// the metadata fully. ErrNoRepo when there is none.
func ReadState(repoDir string) (*State, error) {
	md, err := readRepomd(repoDir)
	if err != nil {
		return nil, err
	}
	if st, err := readStateFile(repoDir, md); err == nil {
		st.Repomd = md
		return st, nil
	}
	pkgs, err := ReadPackages(repoDir, md)
	if err != nil {
		return nil, err
	}
	return &State{Repomd: md, Packages: pkgs}, nil
}

var errStale = errors.New("state file does not match repomd.xml")

// readString reads a file into a string without holding it twice (as
// os.ReadFile and a conversion would).
func readString(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(int(min(fi.Size(), 1<<30)))
	buf := make([]byte, 16<<10)
	for {
		n, err := f.Read(buf)
		sb.Write(buf[:n])
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// nextField cuts the text up to the next tab (or the end) off *s.
func nextField(s *string) string {
	i := strings.IndexByte(*s, '\t')
	if i < 0 {
		f := *s
		*s = ""
		return f
	}
	f := (*s)[:i]
	*s = (*s)[i+1:]
	return f
}

func readStateFile(repoDir string, md *Repomd) (*State, error) {
	// One string for the whole file: every field below is a substring of
	// it, so parsing allocates nothing per field.
	text, err := readString(filepath.Join(repoDir, "repodata", StateFile))
	if err != nil {
		return nil, err
	}
	if text, err = checkCRC(text); err != nil {
		return nil, err
	}
	line := func() (string, bool) {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			return "", false
		}
		l := text[:i]
		text = text[i+1:]
		return l, true
	}
	if l, ok := line(); !ok || l != stateMagic {
		return nil, errStale
	}
	var files [3][]byte
	var ends [3]int // where the chunks read so far end in each file
	for i, typ := range []string{"primary", "filelists", "other"} {
		l, ok := line()
		if !ok || nextField(&l) != "file" || nextField(&l) != typ {
			return nil, errStale
		}
		href, ok := parseField(nextField(&l))
		rec := md.Record(typ)
		if !ok || l != "" || rec == nil || href != rec.Href || !strings.HasSuffix(href, ".zst") || !validHref(href) {
			return nil, errStale
		}
		b, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(href)))
		if err != nil {
			return nil, err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != rec.Checksum {
			return nil, fmt.Errorf("%s: checksum does not match repomd.xml", href)
		}
		files[i] = b
		if ends[i], err = frameLen(b); err != nil {
			return nil, errStale
		}
	}
	n := strings.Count(text, "\npkg\t")
	st := &State{Packages: make([]*Package, 0, n)}
	all := make([]Package, n) // one allocation for every package
	var cur *stateChunk
	want := 0
	// end closes the current chunk: its pkg lines are body[from:upTo].
	body, from := text, 0
	end := func(upTo int) bool {
		if cur == nil {
			return true
		}
		cur.lines = body[from:upTo]
		return len(cur.members) == want
	}
	num := func(f string) (int64, bool) {
		v, err := strconv.ParseInt(f, 10, 64)
		return v, err == nil
	}
	for text != "" {
		at := len(body) - len(text)
		l, ok := line()
		if !ok {
			return nil, errStale
		}
		switch nextField(&l) {
		case "chunk":
			if !end(at) {
				return nil, errStale
			}
			cur = &stateChunk{}
			from = len(body) - len(text)
			v, ok := num(nextField(&l))
			if !ok || v <= 0 || v > maxChunk {
				return nil, errStale
			}
			want = int(v)
			cur.members = make([]*Package, 0, want)
			for i := range 3 {
				off, ok1 := num(nextField(&l))
				ln, ok2 := num(nextField(&l))
				if !ok1 || !ok2 || off != int64(ends[i]) || ln <= 0 || off+ln > int64(len(files[i])) {
					return nil, errStale
				}
				cur.frames[i] = files[i][off : off+ln : off+ln]
				ends[i] = int(off + ln)
			}
			if l != "" {
				return nil, errStale
			}
			st.chunks++
		case "pkg":
			if cur == nil || len(cur.members) >= want || len(st.Packages) >= len(all) {
				return nil, errStale
			}
			p := &all[len(st.Packages)]
			*p = Package{PkgID: nextField(&l), chunk: cur}
			var ok [8]bool
			p.Size, ok[0] = num(nextField(&l))
			p.Mtime, ok[1] = num(nextField(&l))
			ep, ok2 := num(nextField(&l))
			p.EVR.Epoch = int(ep)
			p.Name, ok[2] = parseField(nextField(&l))
			p.EVR.Version, ok[3] = parseField(nextField(&l))
			p.EVR.Release, ok[4] = parseField(nextField(&l))
			p.Arch, ok[5] = parseField(nextField(&l))
			p.Href, ok[6] = parseField(nextField(&l))
			ok[7] = ok2 && l == "" && len(p.PkgID) == 64 && validHref(p.Href) && ep >= 0 && ep <= 1<<31-1
			for _, b := range ok {
				if !b {
					return nil, errStale
				}
			}
			cur.members = append(cur.members, p)
			st.Packages = append(st.Packages, p)
		default:
			return nil, errStale
		}
	}
	if cur == nil || !end(len(body)) || len(st.Packages) != len(all) {
		return nil, errStale
	}
	for i, b := range files { // one frame, the tail, after the last chunk
		if n, err := frameLen(b[ends[i]:]); err != nil || ends[i]+n != len(b) {
			return nil, errStale
		}
	}
	return st, nil
}

// checkCRC returns text without its last line, the crc32c of the rest.
func checkCRC(text string) (string, error) {
	i := strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")
	if i < 0 || !strings.HasSuffix(text, "\n") {
		return "", errStale
	}
	v, ok := strings.CutPrefix(text[i+1:len(text)-1], "crc32c\t")
	want, err := strconv.ParseUint(v, 16, 32)
	body := text[:i+1] // read in place: a []byte conversion would copy the whole file
	if !ok || len(v) != 8 || err != nil || crc32.Checksum(unsafe.Slice(unsafe.StringData(body), len(body)), castagnoli) != uint32(want) {
		return "", errStale
	}
	return body, nil
}

// load gives pkgs (packages of this state) their XML fragments by
// decompressing the chunks they were in.
func (s *State) load(pkgs []*Package) error {
	for _, p := range pkgs {
		c := p.chunk
		if c == nil {
			return fmt.Errorf("%s: no metadata to re-use", p.Href)
		}
		if c.loaded {
			continue
		}
		d := decoder()
		for i, typ := range []string{"primary", "filelists", "other"} {
			content, err := d.DecodeAll(c.frames[i], nil)
			if err != nil {
				return fmt.Errorf("%s chunk: %w", typ, err)
			}
			frags, err := split(content, typ)
			if err != nil {
				return err
			}
			if len(frags) != len(c.members) {
				return fmt.Errorf("%s chunk: %d packages, state says %d", typ, len(frags), len(c.members))
			}
			for j, m := range c.members {
				switch i {
				case 0:
					if id := string(textOf(frags[j], "checksum")); id != m.PkgID {
						return fmt.Errorf("primary chunk: package %d is %s, state says %s", j, id, m.PkgID)
					}
					m.Primary = frags[j]
				case 1:
					m.Filelists = frags[j]
				case 2:
					m.Other = frags[j]
				}
			}
		}
		c.loaded = true
	}
	return nil
}
