// Package rpmdb writes an rpm database in rpm 4.16+'s sqlite format
// (rpmdb.sqlite under /usr/lib/sysimage/rpm): the Packages table of header
// blobs and the index tables rpm keeps beside it, with the schema rpm
// itself creates. Each blob is the package's main header (immutable region
// verbatim, so its digests still verify) plus the tags rpm adds when it
// installs: install time and TID, file states, colour and the signature
// digests. The file is written in rollback-journal mode, so no -wal/-shm
// files are left and read-only images can be queried.
package rpmdb

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Path is where rpm ≥ 4.16 keeps its database, relative to the root.
const Path = "usr/lib/sysimage/rpm/rpmdb.sqlite"

// Tags rpm adds to a header when it installs the package.
const (
	tagSigSize      rpm.Tag = 257
	tagSigMD5       rpm.Tag = 261
	tagSHA1Header   rpm.Tag = 269
	tagSHA256Header rpm.Tag = 273
	tagDSAHeader    rpm.Tag = 267
	tagRSAHeader    rpm.Tag = 268
)

// indexes are rpm's secondary tables in the order rpm creates them, with
// their key type and whether rpm adds a hnum index.
var indexes = []struct {
	table string
	tag   rpm.Tag
	blob  bool
	hnum  bool
	key   bool
}{
	{"Name", rpm.TagName, false, false, true},
	{"Basenames", rpm.TagBaseNames, false, true, true},
	{"Group", rpm.TagGroup, false, false, true},
	{"Requirename", rpm.TagRequireName, false, true, true},
	{"Providename", rpm.TagProvideName, false, true, true},
	{"Conflictname", rpm.TagConflictName, false, true, true},
	{"Obsoletename", rpm.TagObsoleteName, false, true, true},
	{"Triggername", 1066, false, true, true},
	{"Dirnames", rpm.TagDirNames, false, true, true},
	{"Installtid", rpm.TagInstallTID, true, false, false},
	{"Sigmd5", tagSigMD5, true, false, false},
	{"Sha1header", tagSHA1Header, false, false, true},
	{"Filetriggername", 5069, false, true, true},
	{"Transfiletriggername", 5079, false, true, true},
	{"Recommendname", rpm.TagRecommendName, false, true, true},
	{"Suggestname", rpm.TagSuggestName, false, true, true},
	{"Supplementname", rpm.TagSupplementName, false, true, true},
	{"Enhancename", rpm.TagEnhanceName, false, true, true},
}

// InstalledHeader returns the rpmdb blob for package p installed at time
// tid (seconds; SOURCE_DATE_EPOCH for reproducible images).
func InstalledHeader(p *rpm.Package, tid int64) ([]byte, error) {
	h := rpm.CloneHeader(p.Header)
	h.SetUint32s(rpm.TagInstallTime, uint32(tid))
	h.SetUint32s(rpm.TagInstallTID, uint32(tid))
	h.SetUint32s(rpm.TagInstallColor, 0)
	s := p.Signature
	if v := s.Uint32s(rpm.SigTagSize); len(v) == 1 {
		h.SetUint32s(tagSigSize, v[0])
	}
	if b := s.Bytes(rpm.SigTagMD5); b != nil {
		h.SetBytes(tagSigMD5, b)
	}
	if v := s.String(rpm.SigTagSHA1); v != "" {
		h.SetString(tagSHA1Header, v)
	}
	if v := s.String(rpm.SigTagSHA256); v != "" {
		h.SetString(tagSHA256Header, v)
	}
	if b := s.Bytes(rpm.SigTagRSA); b != nil {
		h.SetBytes(tagRSAHeader, b)
	}
	if b := s.Bytes(rpm.SigTagDSA); b != nil {
		h.SetBytes(tagDSAHeader, b)
	}
	paths, err := p.Header.FilePaths()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.NEVRA(), err)
	}
	blob := h.Marshal()
	if len(paths) > 0 {
		// FILESTATES is a char array; pkg/rpm has no char setter, so the
		// entry (all RPMFILE_STATE_NORMAL) is appended to the export.
		blob = appendEntry(blob, rpm.TagFileStates, rpm.TypeChar, uint32(len(paths)), make([]byte, len(paths)))
	}
	if _, err := rpm.ParseHeaderBlob(blob); err != nil {
		return nil, fmt.Errorf("%s: installed header: %w", p.NEVRA(), err)
	}
	return blob, nil
}

// appendEntry adds one entry after the existing ones of an exported header
// (il, dl, index, data); rpm sorts entries when it loads a header and
// requires data offsets in index order, which appending keeps.
func appendEntry(blob []byte, tag rpm.Tag, typ rpm.Type, count uint32, data []byte) []byte {
	il := binary.BigEndian.Uint32(blob)
	dl := binary.BigEndian.Uint32(blob[4:])
	idx := blob[8 : 8+16*il]
	dat := blob[8+16*il:]
	var e [16]byte
	binary.BigEndian.PutUint32(e[0:], uint32(tag))
	binary.BigEndian.PutUint32(e[4:], uint32(typ))
	binary.BigEndian.PutUint32(e[8:], dl)
	binary.BigEndian.PutUint32(e[12:], count)
	out := make([]byte, 8, len(blob)+16+len(data))
	binary.BigEndian.PutUint32(out, il+1)
	binary.BigEndian.PutUint32(out[4:], dl+uint32(len(data)))
	out = append(out, idx...)
	out = append(out, e[:]...)
	out = append(out, dat...)
	return append(out, data...)
}

// Write creates the database at dir/Path holding blobs (from
// InstalledHeader), in that order. An existing database is replaced. dir
// is a staging directory of the caller's, never an image root (sqlite
// opens paths from the host's /): pkg/image moves the file into the root
// through an os.Root.
func Write(dir string, blobs [][]byte) error {
	dst := filepath.Join(dir, Path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("rpmdb: %w", err)
	}
	tmp := dst + ".keel-tmp"
	os.Remove(tmp)
	if err := write(tmp, blobs); err != nil {
		os.Remove(tmp)
		os.Remove(tmp + "-journal")
		return fmt.Errorf("rpmdb %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("rpmdb: %w", err)
	}
	return nil
}

func write(path string, blobs [][]byte) error {
	// A fresh file renamed into place needs no rollback journal while it
	// is written; journal_mode is set back to DELETE (rpm's) at the end.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Tables first, indexes once the rows are in (cheaper than keeping
	// them up to date row by row); each group is one Exec.
	tables := []string{"CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"}
	var idxs []string
	for _, ix := range indexes {
		kt := "TEXT"
		if ix.blob {
			kt = "BLOB"
		}
		tables = append(tables, fmt.Sprintf("CREATE TABLE '%s' (key '%s' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))", ix.table, kt))
		if ix.key {
			idxs = append(idxs, fmt.Sprintf("CREATE INDEX '%s_key_idx' ON '%s'(key ASC)", ix.table, ix.table))
		}
		if ix.hnum {
			idxs = append(idxs, fmt.Sprintf("CREATE INDEX '%s_hnum_idx' ON '%s'(hnum ASC)", ix.table, ix.table))
		}
	}
	if _, err := tx.Exec(strings.Join(tables, ";\n")); err != nil {
		return fmt.Errorf("creating tables: %w", err)
	}
	// Rows are inserted many per statement: the sqlite driver parses the
	// SQL again on every Exec, which cost more than the inserts themselves.
	pkgRows := make([]any, 0, 2*len(blobs))
	rows := make([][]any, len(indexes))
	for i, b := range blobs {
		hnum := i + 1
		h, err := rpm.ParseHeaderBlob(b)
		if err != nil {
			return fmt.Errorf("package %d: %w", hnum, err)
		}
		pkgRows = append(pkgRows, hnum, b)
		for j, ix := range indexes {
			for _, k := range keys(h, ix.tag) {
				rows[j] = append(rows[j], k.key, hnum, k.idx)
			}
		}
	}
	if err := insertRows(tx, "Packages", "hnum, blob", 2, pkgRows); err != nil {
		return err
	}
	for j, ix := range indexes {
		if err := insertRows(tx, ix.table, "key, hnum, idx", 3, rows[j]); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(strings.Join(idxs, ";\n")); err != nil {
		return fmt.Errorf("creating indexes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.Exec("PRAGMA journal_mode=DELETE")
	return err
}

// insertRows inserts args (cols values per row) into table in order, in
// statements of at most 64 rows (the driver binds parameters in time
// quadratic in their number).
func insertRows(tx *sql.Tx, table, columns string, cols int, args []any) error {
	const batch = 64
	for len(args) > 0 {
		n := min(len(args)/cols, batch)
		var q strings.Builder
		fmt.Fprintf(&q, "INSERT INTO '%s' (%s) VALUES ", table, columns)
		row := "(?" + strings.Repeat(", ?", cols-1) + ")"
		for i := 0; i < n; i++ {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(row)
		}
		if _, err := tx.Exec(q.String(), args[:n*cols]...); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		args = args[n*cols:]
	}
	return nil
}

type key struct {
	idx int
	key any
}

// keys lists an index's keys for header h as rpm indexes them: one row per
// distinct value with the array position of its first occurrence.
func keys(h *rpm.Header, tag rpm.Tag) []key {
	var out []key
	switch h.TypeOf(tag) {
	case rpm.TypeString, rpm.TypeI18NString:
		if v := h.String(tag); v != "" {
			out = append(out, key{0, v})
		}
	case rpm.TypeStringArray:
		seen := map[string]bool{}
		for i, v := range h.Strings(tag) {
			if !seen[v] {
				seen[v] = true
				out = append(out, key{i, v})
			}
		}
	case rpm.TypeInt32:
		for i, v := range h.Uint32s(tag) {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], v) // rpm stores host order (x86: little-endian)
			out = append(out, key{i, b[:]})
		}
	case rpm.TypeBin:
		if b := h.Bytes(tag); len(b) > 0 {
			out = append(out, key{0, b})
		}
	}
	return out
}
