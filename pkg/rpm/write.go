package rpm

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// MarshalLead encodes the 96-byte lead.
func (l Lead) MarshalLead() []byte {
	b := make([]byte, LeadSize)
	copy(b, leadMagic[:])
	b[4], b[5] = l.Major, l.Minor
	binary.BigEndian.PutUint16(b[6:], l.Type)
	binary.BigEndian.PutUint16(b[8:], l.ArchNum)
	name := l.Name
	if len(name) > 65 {
		name = name[:65]
	}
	copy(b[10:76], name)
	binary.BigEndian.PutUint16(b[76:], l.OSNum)
	binary.BigEndian.PutUint16(b[78:], l.SigType)
	return b
}

// WritePackage writes an .rpm: lead, signature header (padded to 8 bytes),
// the main header exactly as given (magic included) and the raw payload.
func WritePackage(w io.Writer, lead Lead, sig *Header, headerFile []byte, rawPayload io.Reader) error {
	sigb := sig.MarshalFile()
	pad := (8 - len(sigb)%8) % 8
	for _, b := range [][]byte{lead.MarshalLead(), sigb, make([]byte, pad), headerFile} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("writing rpm: %w", err)
		}
	}
	if _, err := io.Copy(w, rawPayload); err != nil {
		return fmt.Errorf("writing rpm payload: %w", err)
	}
	return nil
}

// NewSignatureHeader computes the unsigned signature header rpm 4.18 writes
// for headerFile (magic included) and the raw payload: header SHA-1 and
// SHA-256, header+payload size and MD5, and the uncompressed payload size.
func NewSignatureHeader(headerFile, rawPayload []byte, archiveSize uint64) *Header {
	s := NewHeader(TagHeaderSignatures)
	s.SetString(SigTagSHA1, hexSum(sha1.New(), headerFile))
	s.SetString(SigTagSHA256, hexSum(sha256.New(), headerFile))
	s.SetUint32s(SigTagSize, uint32(len(headerFile)+len(rawPayload)))
	m := md5.New()
	m.Write(headerFile)
	m.Write(rawPayload)
	s.SetBytes(SigTagMD5, m.Sum(nil))
	s.SetUint32s(SigTagPayloadSize, uint32(archiveSize))
	return s
}

// CloneHeader returns a deep copy of h that can be modified independently.
func CloneHeader(h *Header) *Header {
	c := &Header{entries: make(map[Tag]*entry, len(h.entries)), regionTag: h.regionTag,
		regionIdx: h.regionIdx, regionDat: h.regionDat, dirty: h.dirty}
	for t, e := range h.entries {
		ce := *e
		c.entries[t] = &ce
	}
	return c
}

// HeaderSigner signs the main header (magic included) and returns a binary
// OpenPGP signature packet.
type HeaderSigner func(headerFile []byte) ([]byte, error)

// Sign writes p to w with a new header-only OpenPGP signature in the
// signature header (what rpmsign --addsign does in rpm ≥ 4.16), replacing any
// old signatures; the header and payload are copied unchanged.
func (p *Package) Sign(w io.Writer, sign HeaderSigner) error {
	q, err := p.Resign(sign)
	if err != nil {
		return err
	}
	raw, err := p.RawPayload()
	if err != nil {
		return err
	}
	defer raw.Close()
	return q.Write(w, raw)
}

// Resign returns a copy of p whose signature header carries a new header
// signature (old ones removed); PayloadOffset is updated, the payload itself
// is not read.
func (p *Package) Resign(sign HeaderSigner) (*Package, error) {
	sig, err := sign(p.HeaderBlob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.NEVRA(), err)
	}
	tag, err := sigTagFor(sig)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.NEVRA(), err)
	}
	s := CloneHeader(p.Signature)
	for _, t := range []Tag{SigTagDSA, SigTagRSA, SigTagPGP, SigTagGPG} {
		s.Delete(t)
	}
	s.SetBytes(tag, sig)
	sb := s.MarshalFile()
	q := *p
	q.Signature, q.SignatureBlob, q.stream = s, sb, nil
	q.PayloadOffset = int64(LeadSize + len(sb) + (8-len(sb)%8)%8 + len(p.HeaderBlob))
	return &q, nil
}

// Write writes p's lead, signature header and header followed by rawPayload.
func (p *Package) Write(w io.Writer, rawPayload io.Reader) error {
	return WritePackage(w, p.Lead, p.Signature, p.HeaderBlob, rawPayload)
}

// HeaderSignature returns the OpenPGP header signature, if any.
func (p *Package) HeaderSignature() []byte {
	if b := p.Signature.Bytes(SigTagRSA); b != nil {
		return b
	}
	return p.Signature.Bytes(SigTagDSA)
}

// sigTagFor picks the tag rpm expects for a signature packet: RSA signatures
// go in RSAHEADER, DSA and EdDSA ones in DSAHEADER.
func sigTagFor(sig []byte) (Tag, error) {
	if len(sig) < 2 || sig[0]&0x80 == 0 {
		return 0, fmt.Errorf("signature is not an OpenPGP packet")
	}
	var body []byte
	if sig[0]&0x40 != 0 { // new format length
		switch l := sig[1]; {
		case l < 192:
			body = sig[2:]
		case l < 224:
			body = sig[3:]
		case l == 255:
			body = sig[6:]
		default:
			return 0, fmt.Errorf("signature packet has a partial length")
		}
	} else {
		body = sig[1+(1<<(sig[0]&3)):]
	}
	if len(body) < 4 || body[0] != 4 {
		return 0, fmt.Errorf("want a v4 OpenPGP signature")
	}
	switch body[2] {
	case 1:
		return SigTagRSA, nil
	case 17, 22:
		return SigTagDSA, nil
	}
	return 0, fmt.Errorf("signature algorithm %d unsupported by rpm (want RSA, DSA or EdDSA)", body[2])
}
