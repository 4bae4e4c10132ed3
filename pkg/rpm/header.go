package rpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
)

// HeaderMagic starts every header inside an .rpm file (not the rpmdb blobs).
var HeaderMagic = [8]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}

// Limits from rpm's header.c: more than this is a hostile or broken header.
const (
	maxHeaderTags = 0xffff
	maxHeaderData = 0x0fffffff
	entrySize     = 16
)

// entry is one header tag with its value stored as rpm stores it (big-endian,
// NUL-terminated strings), so re-exporting is byte-exact.
type entry struct {
	tag    Tag
	typ    Type
	count  uint32
	data   []byte
	offset int32 // offset in the data store it was read from (region entries)
	region bool  // inside the immutable/signature region
}

// Header is an rpm header: the signature header, the main header of a
// package, or an rpmdb Packages.blob. The immutable region is kept verbatim
// so signatures over it stay valid when tags are added (as rpm does on install).
type Header struct {
	entries   map[Tag]*entry
	regionTag Tag    // 0: no region
	regionIdx []byte // index entries of the region, region tag entry first
	regionDat []byte // data store of the region, trailer included
	dirty     bool   // a region entry changed: the region must be rebuilt
}

// NewHeader returns an empty header whose entries will be exported inside a
// region tagged regionTag (TagHeaderImmutable for a main header,
// TagHeaderSignatures for a signature header, 0 for none).
func NewHeader(regionTag Tag) *Header {
	return &Header{entries: map[Tag]*entry{}, regionTag: regionTag, dirty: true}
}

// ParseHeaderBlob parses a header without the 8-byte magic, as stored in an
// rpmdb (sqlite Packages.blob). The blob must be exactly one header.
func ParseHeaderBlob(blob []byte) (*Header, error) {
	h, n, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	if n != len(blob) {
		return nil, fmt.Errorf("header blob: %d trailing bytes after the header", len(blob)-n)
	}
	return h, nil
}

// ReadHeader reads one header with its magic from r (as in an .rpm file) and
// returns it with its raw bytes, magic included.
func ReadHeader(r io.Reader) (*Header, []byte, error) {
	var intro [16]byte
	if _, err := io.ReadFull(r, intro[:]); err != nil {
		return nil, nil, fmt.Errorf("header intro: %w", noEOF(err))
	}
	if !bytes.Equal(intro[:3], HeaderMagic[:3]) {
		return nil, nil, fmt.Errorf("header: bad magic %x, want 8eade8", intro[:3])
	}
	if intro[3] != 1 {
		return nil, nil, fmt.Errorf("header: version %d, want 1", intro[3])
	}
	il := binary.BigEndian.Uint32(intro[8:])
	dl := binary.BigEndian.Uint32(intro[12:])
	if il == 0 || il > maxHeaderTags || dl > maxHeaderData {
		return nil, nil, fmt.Errorf("header: %d entries / %d data bytes out of range", il, dl)
	}
	raw := make([]byte, 16+int(il)*entrySize+int(dl))
	copy(raw, intro[:])
	if _, err := io.ReadFull(r, raw[16:]); err != nil {
		return nil, nil, fmt.Errorf("header (%d entries, %d bytes): %w", il, dl, noEOF(err))
	}
	h, err := ParseHeaderBlob(raw[8:])
	if err != nil {
		return nil, nil, err
	}
	return h, raw, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseHeader(b []byte) (*Header, int, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("header: %d bytes, shorter than its 8-byte intro", len(b))
	}
	il := binary.BigEndian.Uint32(b)
	dl := binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxHeaderTags {
		return nil, 0, fmt.Errorf("header: %d index entries, want 1..%d", il, maxHeaderTags)
	}
	if dl > maxHeaderData {
		return nil, 0, fmt.Errorf("header: %d data bytes, more than %d", dl, maxHeaderData)
	}
	total := 8 + int(il)*entrySize + int(dl)
	if len(b) < total {
		return nil, 0, fmt.Errorf("header: truncated: %d bytes, want %d", len(b), total)
	}
	index := b[8 : 8+int(il)*entrySize]
	data := b[8+int(il)*entrySize : total]
	h := &Header{entries: make(map[Tag]*entry, il)}

	// A region tag first whose trailer sits in the data store marks the
	// entries that follow it (up to the trailer's count) as the region.
	first := 0
	ril := 0
	rdl := 0
	t0 := Tag(binary.BigEndian.Uint32(index))
	if t0 == TagHeaderImmutable || t0 == TagHeaderSignatures || t0 == TagHeaderImage {
		typ := Type(binary.BigEndian.Uint32(index[4:]))
		off := int32(binary.BigEndian.Uint32(index[8:]))
		cnt := binary.BigEndian.Uint32(index[12:])
		if typ != TypeBin || cnt != entrySize || off < 0 || int(off)+entrySize > len(data) {
			return nil, 0, fmt.Errorf("header: region tag %d: bad entry (type %d, count %d, offset %d)", t0, typ, cnt, off)
		}
		tr := data[off : off+entrySize]
		trOff := int32(binary.BigEndian.Uint32(tr[8:]))
		if Type(binary.BigEndian.Uint32(tr[4:])) != TypeBin || binary.BigEndian.Uint32(tr[12:]) != entrySize ||
			trOff > 0 || trOff%entrySize != 0 || int(-trOff/entrySize) > int(il) || trOff == 0 {
			return nil, 0, fmt.Errorf("header: region tag %d: bad trailer", t0)
		}
		ril = int(-trOff / entrySize)
		rdl = int(off) + entrySize
		h.regionTag = t0
		first = 1
	}
	for i := first; i < int(il); i++ {
		e := index[i*entrySize:]
		tag := Tag(binary.BigEndian.Uint32(e))
		typ := Type(binary.BigEndian.Uint32(e[4:]))
		off := int32(binary.BigEndian.Uint32(e[8:]))
		cnt := binary.BigEndian.Uint32(e[12:])
		if tag < TagHeaderI18NTable {
			// rpm's hdrchkTag: tags below 100 (the region tags) only as the
			// first entry. Elsewhere rpm refuses the header, and a region tag
			// re-exported first would read as a malformed region.
			return nil, 0, fmt.Errorf("header: entry %d: tag %d is reserved (below %d) outside the region entry", i, tag, TagHeaderI18NTable)
		}
		if typ < TypeChar || typ > TypeI18NString {
			return nil, 0, fmt.Errorf("header: tag %d: unknown type %d", tag, typ)
		}
		if cnt == 0 || cnt&0xff000000 != 0 {
			return nil, 0, fmt.Errorf("header: tag %d: count %d out of range", tag, cnt)
		}
		if off < 0 || int(off) >= len(data) {
			return nil, 0, fmt.Errorf("header: tag %d: offset %d outside the %d-byte data store", tag, off, len(data))
		}
		if a := typeAlign(typ); int(off)%a != 0 {
			return nil, 0, fmt.Errorf("header: tag %d: offset %d not aligned to %d", tag, off, a)
		}
		n, err := dataLen(typ, cnt, data[off:])
		if err != nil {
			return nil, 0, fmt.Errorf("header: tag %d: %w", tag, err)
		}
		inRegion := i < ril
		if inRegion && int(off)+n > rdl-entrySize {
			return nil, 0, fmt.Errorf("header: tag %d: data overlaps the region trailer", tag)
		}
		if typ == TypeString && cnt != 1 {
			return nil, 0, fmt.Errorf("header: tag %d: string with count %d", tag, cnt)
		}
		// Later (dribble) entries override region ones, as rpm does on load.
		h.entries[tag] = &entry{tag: tag, typ: typ, count: cnt, data: data[off : int(off)+n : int(off)+n], offset: off, region: inRegion}
	}
	if h.regionTag != 0 {
		h.regionIdx = index[: ril*entrySize : ril*entrySize]
		h.regionDat = data[:rdl:rdl]
		// An overridden region entry makes the verbatim region stale.
		if len(h.regionEntries()) != ril-1 {
			h.dirty = true
		}
	}
	return h, total, nil
}

func (h *Header) regionEntries() []*entry {
	var out []*entry
	for _, e := range h.entries {
		if e.region {
			out = append(out, e)
		}
	}
	return out
}

func typeAlign(t Type) int {
	switch t {
	case TypeInt16:
		return 2
	case TypeInt32:
		return 4
	case TypeInt64:
		return 8
	}
	return 1
}

func dataLen(t Type, count uint32, b []byte) (int, error) {
	switch t {
	case TypeChar, TypeInt8, TypeBin:
		return checkLen(int(count), b)
	case TypeInt16:
		return checkLen(2*int(count), b)
	case TypeInt32:
		return checkLen(4*int(count), b)
	case TypeInt64:
		return checkLen(8*int(count), b)
	case TypeString, TypeStringArray, TypeI18NString:
		n := 0
		for i := uint32(0); i < count; i++ {
			j := bytes.IndexByte(b[n:], 0)
			if j < 0 {
				return 0, fmt.Errorf("string %d of %d not NUL-terminated inside the data store", i+1, count)
			}
			n += j + 1
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown type %d", t)
}

func checkLen(n int, b []byte) (int, error) {
	if n > len(b) {
		return 0, fmt.Errorf("%d data bytes, only %d left in the data store", n, len(b))
	}
	return n, nil
}

// Has reports whether the header has tag.
func (h *Header) Has(tag Tag) bool { _, ok := h.entries[tag]; return ok }

// Tags lists the header's tags in ascending order.
func (h *Header) Tags() []Tag {
	out := make([]Tag, 0, len(h.entries))
	for t := range h.entries {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TypeOf returns the stored type of tag (TypeNull when absent).
func (h *Header) TypeOf(tag Tag) Type {
	if e, ok := h.entries[tag]; ok {
		return e.typ
	}
	return TypeNull
}

// Strings returns a string, string-array or i18n-string tag's values.
func (h *Header) Strings(tag Tag) []string {
	e, ok := h.entries[tag]
	if !ok || (e.typ != TypeString && e.typ != TypeStringArray && e.typ != TypeI18NString) {
		return nil
	}
	out := make([]string, 0, e.count)
	b := e.data
	for i := uint32(0); i < e.count; i++ {
		j := bytes.IndexByte(b, 0)
		out = append(out, string(b[:j]))
		b = b[j+1:]
	}
	return out
}

// String returns the first value of a string tag ("" when absent). For i18n
// strings that is the "C" locale.
func (h *Header) String(tag Tag) string {
	e, ok := h.entries[tag]
	if !ok || (e.typ != TypeString && e.typ != TypeStringArray && e.typ != TypeI18NString) {
		return ""
	}
	return string(e.data[:bytes.IndexByte(e.data, 0)])
}

// Uint64s returns an integer tag's values widened to uint64.
func (h *Header) Uint64s(tag Tag) []uint64 {
	e, ok := h.entries[tag]
	if !ok {
		return nil
	}
	out := make([]uint64, e.count)
	for i := range out {
		switch e.typ {
		case TypeChar, TypeInt8:
			out[i] = uint64(e.data[i])
		case TypeInt16:
			out[i] = uint64(binary.BigEndian.Uint16(e.data[2*i:]))
		case TypeInt32:
			out[i] = uint64(binary.BigEndian.Uint32(e.data[4*i:]))
		case TypeInt64:
			out[i] = binary.BigEndian.Uint64(e.data[8*i:])
		default:
			return nil
		}
	}
	return out
}

// Uint32s returns an integer tag's values truncated to uint32 (rpm stores
// modes as int16, most others as int32).
func (h *Header) Uint32s(tag Tag) []uint32 {
	v := h.Uint64s(tag)
	if v == nil {
		return nil
	}
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = uint32(x)
	}
	return out
}

// Uint64 returns the first value of an integer tag and whether it was present.
func (h *Header) Uint64(tag Tag) (uint64, bool) {
	v := h.Uint64s(tag)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Bytes returns a binary tag's value.
func (h *Header) Bytes(tag Tag) []byte {
	e, ok := h.entries[tag]
	if !ok || e.typ != TypeBin {
		return nil
	}
	return e.data
}

// Set stores tag with raw, already-encoded data. Prefer the typed setters.
func (h *Header) set(tag Tag, typ Type, count uint32, data []byte) {
	if old, ok := h.entries[tag]; ok && old.region {
		h.dirty = true
	}
	h.entries[tag] = &entry{tag: tag, typ: typ, count: count, data: data}
}

// Delete removes tag.
func (h *Header) Delete(tag Tag) {
	if old, ok := h.entries[tag]; ok {
		if old.region {
			h.dirty = true
		}
		delete(h.entries, tag)
	}
}

// cstr cuts s at its first NUL: header strings are C strings, and an
// embedded NUL would desynchronize the data store.
func cstr(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// SetString stores a single string (TypeString), cut at any NUL.
func (h *Header) SetString(tag Tag, s string) {
	h.set(tag, TypeString, 1, append([]byte(cstr(s)), 0))
}

// SetI18NString stores a single "C"-locale i18n string (summary, description, group).
func (h *Header) SetI18NString(tag Tag, s string) {
	h.set(tag, TypeI18NString, 1, append([]byte(cstr(s)), 0))
}

// SetStrings stores a string array.
func (h *Header) SetStrings(tag Tag, v []string) {
	var b []byte
	for _, s := range v {
		b = append(append(b, cstr(s)...), 0)
	}
	h.set(tag, TypeStringArray, uint32(len(v)), b)
}

// SetUint16s stores an int16 array.
func (h *Header) SetUint16s(tag Tag, v []uint16) {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint16(b[2*i:], x)
	}
	h.set(tag, TypeInt16, uint32(len(v)), b)
}

// SetUint32s stores an int32 array.
func (h *Header) SetUint32s(tag Tag, v ...uint32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint32(b[4*i:], x)
	}
	h.set(tag, TypeInt32, uint32(len(v)), b)
}

// SetUint64s stores an int64 array.
func (h *Header) SetUint64s(tag Tag, v ...uint64) {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint64(b[8*i:], x)
	}
	h.set(tag, TypeInt64, uint32(len(v)), b)
}

// SetBytes stores a binary blob.
func (h *Header) SetBytes(tag Tag, v []byte) {
	h.set(tag, TypeBin, uint32(len(v)), append([]byte(nil), v...))
}

// Marshal exports the header as an rpmdb blob (no magic). An unchanged
// region from a parsed header is written verbatim with added tags after it,
// as rpm does when it installs a package; otherwise every entry goes into a
// fresh region (when the header has a region tag).
func (h *Header) Marshal() []byte {
	var idx, dat []byte
	put := func(e *entry) {
		for len(dat)%typeAlign(e.typ) != 0 {
			dat = append(dat, 0)
		}
		idx = binary.BigEndian.AppendUint32(idx, uint32(e.tag))
		idx = binary.BigEndian.AppendUint32(idx, uint32(e.typ))
		idx = binary.BigEndian.AppendUint32(idx, uint32(len(dat)))
		idx = binary.BigEndian.AppendUint32(idx, e.count)
		dat = append(dat, e.data...)
	}
	var rest []*entry
	if h.regionTag != 0 && !h.dirty {
		idx = append(idx, h.regionIdx...)
		dat = append(dat, h.regionDat...)
		for _, t := range h.Tags() {
			if e := h.entries[t]; !e.region {
				rest = append(rest, e)
			}
		}
	} else {
		for _, t := range h.Tags() {
			rest = append(rest, h.entries[t])
		}
	}
	if h.regionTag != 0 && h.dirty {
		// Fresh region: region entry first, then every entry, then the trailer.
		idx = binary.BigEndian.AppendUint32(idx, uint32(h.regionTag))
		idx = binary.BigEndian.AppendUint32(idx, uint32(TypeBin))
		idx = binary.BigEndian.AppendUint32(idx, 0) // patched below
		idx = binary.BigEndian.AppendUint32(idx, entrySize)
		for _, e := range rest {
			if e.tag != h.regionTag {
				put(e)
			}
		}
		binary.BigEndian.PutUint32(idx[8:], uint32(len(dat)))
		dat = binary.BigEndian.AppendUint32(dat, uint32(h.regionTag))
		dat = binary.BigEndian.AppendUint32(dat, uint32(TypeBin))
		dat = binary.BigEndian.AppendUint32(dat, uint32(-int32(len(idx))))
		dat = binary.BigEndian.AppendUint32(dat, entrySize)
	} else {
		for _, e := range rest {
			put(e)
		}
	}
	out := make([]byte, 8, 8+len(idx)+len(dat))
	binary.BigEndian.PutUint32(out, uint32(len(idx)/entrySize))
	binary.BigEndian.PutUint32(out[4:], uint32(len(dat)))
	return append(append(out, idx...), dat...)
}

// MarshalFile exports the header with its magic, as it is stored in an .rpm.
func (h *Header) MarshalFile() []byte {
	return append(HeaderMagic[:], h.Marshal()...)
}
