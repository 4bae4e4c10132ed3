package rpm

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// LeadSize is the size of the legacy lead that starts every .rpm.
const LeadSize = 96

var leadMagic = [4]byte{0xed, 0xab, 0xee, 0xdb}

// Lead is the obsolete fixed-size preamble; rpm only checks its magic.
type Lead struct {
	Major, Minor uint8
	Type         uint16 // 0 binary, 1 source
	ArchNum      uint16
	Name         string
	OSNum        uint16
	SigType      uint16 // 5: header-style signature
}

// Package is an .rpm file's lead, signature header and main header; the
// payload follows at PayloadOffset.
type Package struct {
	Path          string // set by Open
	Lead          Lead
	Signature     *Header
	Header        *Header
	SignatureBlob []byte // signature header as in the file, magic included, no padding
	HeaderBlob    []byte // main header as in the file, magic included
	PayloadOffset int64
	stream        io.Reader // the rest of the stream, for ReadPackage
}

// Open reads the headers of the .rpm at path; the payload is opened on demand.
func Open(path string) (*Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rpm: %w", err)
	}
	defer f.Close()
	p, err := ReadPackage(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("rpm %s: %w", path, err)
	}
	p.Path = path
	p.stream = nil
	return p, nil
}

// ReadPackage reads the lead and both headers from r. r can be an
// io.ReaderAt-backed section or a plain stream; Payload then reads on from r.
func ReadPackage(r io.Reader) (*Package, error) {
	var lead [LeadSize]byte
	if _, err := io.ReadFull(r, lead[:]); err != nil {
		return nil, fmt.Errorf("lead: %w", noEOF(err))
	}
	if !bytes.Equal(lead[:4], leadMagic[:]) {
		return nil, fmt.Errorf("lead: bad magic %x: not an rpm package", lead[:4])
	}
	p := &Package{Lead: Lead{
		Major: lead[4], Minor: lead[5],
		Type:    binary.BigEndian.Uint16(lead[6:]),
		ArchNum: binary.BigEndian.Uint16(lead[8:]),
		Name:    strings.TrimRight(string(lead[10:76]), "\x00"),
		OSNum:   binary.BigEndian.Uint16(lead[76:]),
		SigType: binary.BigEndian.Uint16(lead[78:]),
	}}
	if p.Lead.Major != 3 && p.Lead.Major != 4 {
		return nil, fmt.Errorf("lead: format version %d.%d unsupported (want 3 or 4)", p.Lead.Major, p.Lead.Minor)
	}
	if p.Lead.SigType != 5 {
		return nil, fmt.Errorf("lead: signature type %d unsupported (want 5, header-style)", p.Lead.SigType)
	}
	sig, sigRaw, err := ReadHeader(r)
	if err != nil {
		return nil, fmt.Errorf("signature %w", err)
	}
	pad := (8 - len(sigRaw)%8) % 8
	if pad > 0 {
		var z [8]byte
		if _, err := io.ReadFull(r, z[:pad]); err != nil {
			return nil, fmt.Errorf("signature padding: %w", noEOF(err))
		}
	}
	hdr, hdrRaw, err := ReadHeader(r)
	if err != nil {
		return nil, fmt.Errorf("main %w", err)
	}
	p.Signature, p.SignatureBlob = sig, sigRaw
	p.Header, p.HeaderBlob = hdr, hdrRaw
	p.PayloadOffset = int64(LeadSize + len(sigRaw) + pad + len(hdrRaw))
	p.stream = r
	if p.Header.Name() == "" {
		return nil, errors.New("main header: no package name")
	}
	return p, nil
}

// RawPayload returns the compressed payload. For a Package from ReadPackage
// it is the rest of that stream and can be read once.
func (p *Package) RawPayload() (io.ReadCloser, error) {
	if p.stream != nil {
		s := p.stream
		p.stream = nil
		return io.NopCloser(s), nil
	}
	if p.Path == "" {
		return nil, errors.New("rpm: payload already consumed")
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return nil, fmt.Errorf("rpm payload: %w", err)
	}
	if _, err := f.Seek(p.PayloadOffset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("rpm payload %s: %w", p.Path, err)
	}
	return f, nil
}

// Payload returns the decompressed payload archive (cpio).
func (p *Package) Payload() (io.ReadCloser, error) {
	raw, err := p.RawPayload()
	if err != nil {
		return nil, err
	}
	rc, err := Decompress(bufio.NewReaderSize(raw, 64<<10), p.Header.String(TagPayloadCompressor))
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: payload: %w", p.NEVRA(), err)
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, closers{rc, raw}}, nil
}

type closers []io.Closer

func (c closers) Close() error {
	var first error
	for _, x := range c {
		if err := x.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// SniffCompressor names the compression of a stream from its first bytes, as
// PAYLOADCOMPRESSOR would: gzip, xz, zstd, bzip2, else identity.
func SniffCompressor(magic []byte) string {
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(magic, []byte("BZh")):
		return "bzip2"
	}
	return "identity"
}

// Decompress wraps a payload per its PAYLOADCOMPRESSOR name; an empty name
// is sniffed from the magic bytes (old packages omit the tag: gzip).
func Decompress(r *bufio.Reader, compressor string) (io.ReadCloser, error) {
	if compressor == "" {
		magic, _ := r.Peek(6)
		compressor = SniffCompressor(magic)
	}
	switch compressor {
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return z, nil
	case "xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(z), nil
	case "lzma":
		z, err := lzma.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("lzma: %w", err)
		}
		return io.NopCloser(z), nil
	case "zstd":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return z.IOReadCloser(), nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case "identity":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown payload compressor %q (want gzip, xz, lzma, zstd, bzip2)", compressor)
}

// NEVRA is name-[epoch:]version-release.arch, as dnf prints it.
func (p *Package) NEVRA() string { return p.Header.NEVRA() }

// DigestError is a mismatch between a recorded and a computed digest.
type DigestError struct {
	What      string
	Want, Got string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s digest mismatch: header says %s, content is %s", e.What, e.Want, e.Got)
}

// VerifyDigests checks the digests rpm -K checks without a key: the header
// SHA-256/SHA-1 in the signature header and the payload digest in the main
// header (and the legacy MD5 of header+payload when present). It reads the
// whole payload.
func (p *Package) VerifyDigests() error {
	if err := p.verifyHeaderDigest(); err != nil {
		return err
	}
	raw, err := p.RawPayload()
	if err != nil {
		return err
	}
	defer raw.Close()
	return p.verifyPayload(raw)
}

func (p *Package) verifyHeaderDigest() error {
	if want := p.Signature.String(SigTagSHA256); want != "" {
		if got := hexSum(sha256.New(), p.HeaderBlob); got != want {
			return &DigestError{"header SHA-256", want, got}
		}
	} else if want := p.Signature.String(SigTagSHA1); want != "" {
		if got := hexSum(sha1.New(), p.HeaderBlob); got != want {
			return &DigestError{"header SHA-1", want, got}
		}
	} else {
		return errors.New("signature header has no header digest")
	}
	return nil
}

// VerifyDigestsFrom is VerifyDigests with the raw payload given by the caller.
func (p *Package) VerifyDigestsFrom(rawPayload io.Reader) error {
	if err := p.verifyHeaderDigest(); err != nil {
		return err
	}
	return p.verifyPayload(rawPayload)
}

func (p *Package) verifyPayload(raw io.Reader) error {
	pd := sha256.New()
	var md hash.Hash
	w := io.Writer(pd)
	// The legacy MD5 only matters for packages without a payload digest.
	if !p.Header.Has(TagPayloadDigest) && p.Signature.Has(SigTagMD5) {
		md = md5.New()
		md.Write(p.HeaderBlob)
		w = io.MultiWriter(pd, md)
	}
	n, err := io.Copy(w, raw)
	if err != nil {
		return fmt.Errorf("reading payload: %w", err)
	}
	if want := p.Header.Strings(TagPayloadDigest); len(want) > 0 {
		if algo, _ := p.Header.Uint64(TagPayloadDigestAlgo); algo != 8 {
			return fmt.Errorf("payload digest algorithm %d unsupported (want 8, SHA-256)", algo)
		}
		if got := hex.EncodeToString(pd.Sum(nil)); got != want[0] {
			return &DigestError{"payload SHA-256", want[0], got}
		}
	}
	if want := p.Signature.Bytes(SigTagMD5); want != nil && md != nil {
		if got := md.Sum(nil); !bytes.Equal(got, want) {
			return &DigestError{"header+payload MD5", hex.EncodeToString(want), hex.EncodeToString(got)}
		}
	}
	if size, ok := p.Signature.Uint64(SigTagSize); ok && size != uint64(len(p.HeaderBlob))+uint64(n) {
		return fmt.Errorf("size mismatch: signature header says %d bytes of header+payload, file has %d", size, uint64(len(p.HeaderBlob))+uint64(n))
	}
	return nil
}

func hexSum(h hash.Hash, b []byte) string {
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
