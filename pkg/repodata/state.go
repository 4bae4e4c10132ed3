package repodata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// StateFile sits next to repomd.xml: for each zstd chunk, its frames'
// places in the three files and its packages' identities. It is a cache:
// when missing or inconsistent, ReadState decompresses the metadata instead.
const StateFile = ".keel-state"

const stateMagic = "keel-repodata-state 1"

// State is the previous metadata as an update needs it.
type State struct {
	Packages []*Package // fragments loaded lazily
	chunks   map[[32]byte]*stateChunk
}

type stateChunk struct {
	frames  [3][]byte // compressed primary, filelists, other frames
	members []*Package
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

// chunkID identifies a chunk by everything its XML depends on: the package
// files (pkgid) and where and when they are stored.
func chunkID(members []*Package) [32]byte {
	var b []byte
	for _, p := range members {
		b = append(b, p.PkgID...)
		b = append(b, 0)
		b = append(b, p.Href...)
		b = append(b, 0)
		b = strconv.AppendInt(b, p.Mtime, 10)
		b = append(b, 0)
		b = strconv.AppendInt(b, p.Size, 10)
		b = append(b, '\n')
	}
	return sha256.Sum256(b)
}

func writeState(dir string, recs []Record, pkgs []*Package, bounds []int, ids [][32]byte, lens [][]int) error {
	var b bytes.Buffer
	b.WriteString(stateMagic + "\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "file\t%s\t%s\n", r.Type, strconv.Quote(r.Href))
	}
	offs := make([]int, len(recs))
	for i := range recs {
		offs[i] = lens[i][0] // after the head frame
	}
	start := 0
	for ci, end := range bounds {
		fmt.Fprintf(&b, "chunk\t%x\t%d", ids[ci], end-start)
		for i := range recs {
			l := lens[i][ci+1]
			fmt.Fprintf(&b, "\t%d\t%d", offs[i], l)
			offs[i] += l
		}
		b.WriteByte('\n')
		for _, p := range pkgs[start:end] {
			l := append(b.AvailableBuffer(), "pkg\t"...)
			l = append(l, p.PkgID...)
			for _, n := range []int64{p.Size, p.Mtime, int64(p.EVR.Epoch)} {
				l = strconv.AppendInt(append(l, '\t'), n, 10)
			}
			for _, s := range []string{p.Name, p.EVR.Version, p.EVR.Release, p.Arch, p.Href} {
				l = strconv.AppendQuote(append(l, '\t'), s)
			}
			b.Write(append(l, '\n'))
		}
		start = end
	}
	return os.WriteFile(filepath.Join(dir, StateFile), b.Bytes(), 0o644)
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
		return st, nil
	}
	pkgs, err := ReadPackages(repoDir, md)
	if err != nil {
		return nil, err
	}
	return &State{Packages: pkgs}, nil
}

var errStale = errors.New("state file does not match repomd.xml")

func readStateFile(repoDir string, md *Repomd) (*State, error) {
	raw, err := os.ReadFile(filepath.Join(repoDir, "repodata", StateFile))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) < 4 || lines[0] != stateMagic {
		return nil, errStale
	}
	var files [3][]byte
	for i, typ := range []string{"primary", "filelists", "other"} {
		f := strings.Split(lines[1+i], "\t")
		rec := md.Record(typ)
		if len(f) != 3 || f[0] != "file" || f[1] != typ || rec == nil {
			return nil, errStale
		}
		href, err := strconv.Unquote(f[2])
		if err != nil || href != rec.Href || !strings.HasSuffix(href, ".zst") || !validHref(href) {
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
	}
	st := &State{chunks: map[[32]byte]*stateChunk{}}
	var cur *stateChunk
	want := 0
	for _, l := range lines[4:] {
		f := strings.Split(l, "\t")
		switch {
		case len(f) == 9 && f[0] == "chunk":
			if cur != nil && len(cur.members) != want {
				return nil, errStale
			}
			cur = &stateChunk{}
			n, err := strconv.Atoi(f[2])
			if err != nil || n <= 0 {
				return nil, errStale
			}
			want = n
			for i := range 3 {
				off, err1 := strconv.Atoi(f[3+2*i])
				ln, err2 := strconv.Atoi(f[4+2*i])
				if err1 != nil || err2 != nil || off < 0 || ln <= 0 || off+ln > len(files[i]) {
					return nil, errStale
				}
				cur.frames[i] = files[i][off : off+ln : off+ln]
			}
			var id [32]byte
			if b, err := hex.DecodeString(f[1]); err != nil || len(b) != 32 {
				return nil, errStale
			} else {
				copy(id[:], b)
			}
			st.chunks[id] = cur
		case len(f) == 10 && f[0] == "pkg" && cur != nil:
			p := &Package{PkgID: f[1], chunk: cur, pos: len(cur.members)}
			var errs [6]error
			p.Size, errs[0] = strconv.ParseInt(f[2], 10, 64)
			p.Mtime, errs[1] = strconv.ParseInt(f[3], 10, 64)
			ep, err := strconv.Atoi(f[4])
			p.Name, errs[2] = strconv.Unquote(f[5])
			var ver, rel string
			ver, errs[3] = strconv.Unquote(f[6])
			rel, errs[4] = strconv.Unquote(f[7])
			p.Arch, errs[5] = strconv.Unquote(f[8])
			href, herr := strconv.Unquote(f[9])
			if err != nil || herr != nil || errors.Join(errs[:]...) != nil || !validHref(href) {
				return nil, errStale
			}
			p.Href = href
			p.EVR = rpm.EVR{Epoch: ep, Version: ver, Release: rel}
			cur.members = append(cur.members, p)
			st.Packages = append(st.Packages, p)
		default:
			return nil, errStale
		}
	}
	if cur == nil || len(cur.members) != want {
		return nil, errStale
	}
	for id, c := range st.chunks {
		if chunkID(c.members) != id {
			return nil, errStale
		}
	}
	return st, nil
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
