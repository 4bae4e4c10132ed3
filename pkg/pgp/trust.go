package pgp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TrustedDir is where a key store keeps public keys it trusts besides its
// own (one armored or binary key file each, any name).
const TrustedDir = "trusted"

// UntrustedError is a valid-looking signature by a key not in the keyring:
// one line naming the key that signed and the keys trusted.
type UntrustedError struct {
	Signer  string   // fingerprint, or long key ID when the signature names no fingerprint
	Trusted []string // "FINGERPRINT (user id)" of each trusted key
}

func (e *UntrustedError) Error() string {
	trusted := "none"
	if len(e.Trusted) > 0 {
		trusted = strings.Join(e.Trusted, ", ")
	}
	return fmt.Sprintf("signed by key %s, which is not trusted (trusted: %s)", e.Signer, trusted)
}

// Unwrap keeps errors.Is(err, ErrUnknownKey) true.
func (e *UntrustedError) Unwrap() error { return ErrUnknownKey }

// Describe lists the keyring's keys as "FINGERPRINT (user id)", sorted.
func (kr *Keyring) Describe() []string {
	var out []string
	for _, e := range kr.list {
		s := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
		for name := range e.Identities {
			s += " (" + name + ")"
			break
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Fingerprints are the keyring's primary key fingerprints, sorted.
func (kr *Keyring) Fingerprints() []string {
	var out []string
	for _, e := range kr.list {
		out = append(out, strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)))
	}
	sort.Strings(out)
	return out
}

// Len is the number of keys.
func (kr *Keyring) Len() int { return len(kr.list) }

// Merge returns a keyring holding both keyrings' keys (each once).
func (kr *Keyring) Merge(o *Keyring) *Keyring {
	seen := map[string]bool{}
	out := &Keyring{}
	for _, r := range []*Keyring{kr, o} {
		if r == nil {
			continue
		}
		for _, e := range r.list {
			fp := hex.EncodeToString(e.PrimaryKey.Fingerprint)
			if !seen[fp] {
				seen[fp] = true
				out.list = append(out.list, e)
			}
		}
	}
	return out
}

// signer names the key a detached signature says made it.
func signer(sig []byte) string {
	var r = bytes.NewReader(sig)
	pr := packet.NewReader(r)
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		blk, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return "(unreadable signature)"
		}
		pr = packet.NewReader(blk.Body)
	}
	p, err := pr.Next()
	if err != nil {
		return "(unreadable signature)"
	}
	s, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "(not a signature)"
	case len(s.IssuerFingerprint) > 0:
		return strings.ToUpper(hex.EncodeToString(s.IssuerFingerprint))
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(unnamed)"
}

var fingerprintRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(0x)?([0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})$`) })

// IsFingerprint reports whether s reads as a fingerprint or long key ID
// (spaces and a 0x prefix allowed) rather than a file path.
func IsFingerprint(s string) bool {
	return fingerprintRe().MatchString(strings.ReplaceAll(s, " ", ""))
}

// StoreKeyring reads a key store's public keys: its own (PublicFile) and
// every file in TrustedDir. A store with neither gives an empty keyring.
func StoreKeyring(dir string) (*Keyring, error) {
	paths := []string{filepath.Join(dir, PublicFile)}
	more, _ := filepath.Glob(filepath.Join(dir, TrustedDir, "*"))
	sort.Strings(more)
	paths = append(paths, more...)
	kr := &Keyring{}
	for _, p := range paths {
		k, err := LoadKeyring(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key store: %w", err)
		}
		kr = kr.Merge(k)
	}
	return kr, nil
}

// LoadTrusted reads trusted keys: each spec is a public key file (relative
// paths against base) or a fingerprint/long key ID of a key in store.
func LoadTrusted(specs []string, base, store string) (*Keyring, error) {
	kr := &Keyring{}
	var stored *Keyring
	for _, s := range specs {
		if !IsFingerprint(s) {
			p := s
			if !filepath.IsAbs(p) && base != "" {
				p = filepath.Join(base, p)
			}
			k, err := LoadKeyring(p)
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("trusted key %s: no such file (want a public key file or a fingerprint)", p)
			}
			if err != nil {
				return nil, fmt.Errorf("trusted key %s: %w", s, err)
			}
			kr = kr.Merge(k)
			continue
		}
		if stored == nil {
			var err error
			if stored, err = StoreKeyring(store); err != nil {
				return nil, err
			}
		}
		want := strings.ToUpper(strings.TrimPrefix(strings.ReplaceAll(s, " ", ""), "0x"))
		found := false
		for _, e := range stored.list {
			fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
			if strings.HasSuffix(fp, want) {
				kr = kr.Merge(&Keyring{list: openpgp.EntityList{e}})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("trusted key %s: not in the key store %s (its %s or %s/)", s, store, PublicFile, TrustedDir)
		}
	}
	return kr, nil
}
