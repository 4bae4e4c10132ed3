// Package pgp is Keel's OpenPGP glue (ProtonMail/go-crypto): one Ed25519
// signing key that signs RPM headers, repomd.xml and, as a raw Ed25519 key,
// anything verified with crypto/ed25519 (e.g. a dm-verity root hash at boot).
//
// Keys are v4 "legacy EdDSA" (algorithm 22): the only Ed25519 form rpm 4.18
// and GnuPG 2.2 (dnf's gpgme) accept.
package pgp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// File names inside a key directory.
const (
	SecretFile = "secret.asc"       // armored private key, mode 0600
	PublicFile = "RPM-GPG-KEY-keel" // armored public key, what clients import
	RawPubFile = "ed25519.pub"      // hex raw Ed25519 public key
)

// Key is a private signing key: one go-crypto entity, whose primary key
// signs. It does not change after construction, so concurrent signers need
// no lock.
type Key struct {
	entity *openpgp.Entity
}

func newKey(e *openpgp.Entity) *Key { return &Key{entity: e} }

func (k *Key) priv() *packet.PrivateKey { return k.entity.PrivateKey }

// DefaultDir is $KEEL_KEYS or ~/.local/share/keel/keys: outside any
// checkout, so private keys are never committed.
func DefaultDir() string {
	if d := os.Getenv("KEEL_KEYS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "keel-keys")
	}
	return filepath.Join(home, ".local", "share", "keel", "keys")
}

func config(t time.Time) *packet.Config {
	deterministic := false // Ed25519 is deterministic; no salt notation, so output is reproducible
	return &packet.Config{
		NonDeterministicSignaturesViaNotation: &deterministic,
		Algorithm:                             packet.PubKeyAlgoEdDSA,
		Curve:                                 packet.Curve25519,
		DefaultHash:                           crypto.SHA256,
		Time:                                  func() time.Time { return t },
		V6Keys:                                false,
		SigLifetimeSecs:                       0,
	}
}

// Generate makes a new signing key for "name <email>" created at created.
func Generate(name, email string, created time.Time) (*Key, error) {
	e, err := openpgp.NewEntity(name, "", email, config(created))
	if err != nil {
		return nil, fmt.Errorf("generating OpenPGP key: %w", err)
	}
	// Sign-only: rpm 4.18's key parser need not understand an ECDH subkey.
	e.Subkeys = nil
	return newKey(e), nil
}

// InitDir generates a key into dir (created 0700) unless one exists there,
// writing the secret key, the exported public key and the raw Ed25519
// public key. It returns the key and whether it was newly made.
func InitDir(dir, name, email string, created time.Time, force bool) (*Key, bool, error) {
	if !force {
		if k, err := LoadDir(dir); err == nil {
			return k, false, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, false, err
		}
	}
	k, err := Generate(name, email, created)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("key dir: %w", err)
	}
	var sec, pub bytes.Buffer
	if err := k.WritePrivate(&sec); err != nil {
		return nil, false, err
	}
	if err := k.WritePublic(&pub); err != nil {
		return nil, false, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{SecretFile, sec.Bytes(), 0o600},
		{PublicFile, pub.Bytes(), 0o644},
		{RawPubFile, []byte(hex.EncodeToString(k.Ed25519PublicKey()) + "\n"), 0o644},
	} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, false, err
		}
	}
	return k, true, nil
}

// LoadDir reads the secret key from dir.
func LoadDir(dir string) (*Key, error) {
	f, err := os.Open(filepath.Join(dir, SecretFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k, err := ReadPrivate(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return k, nil
}

// ReadPrivate reads one armored private key.
func ReadPrivate(r io.Reader) (*Key, error) {
	e, err := readEntity(r)
	if err != nil {
		return nil, err
	}
	return newKey(e), nil
}

func readEntity(r io.Reader) (*openpgp.Entity, error) {
	el, err := openpgp.ReadArmoredKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	if len(el) != 1 || el[0].PrivateKey == nil {
		return nil, errors.New("want exactly one private key")
	}
	if err := signable(el[0].PrivateKey); err != nil {
		return nil, err
	}
	return el[0], nil
}

func signable(p *packet.PrivateKey) error {
	if p.Encrypted {
		return errors.New("private key is passphrase-protected; keel keys are unencrypted files guarded by mode 0600")
	}
	if _, ok := p.PrivateKey.(*eddsa.PrivateKey); !ok {
		return fmt.Errorf("private key algorithm %v: want EdDSA (Ed25519)", p.PubKeyAlgo)
	}
	return nil
}

// WritePrivate writes the armored private key.
func (k *Key) WritePrivate(w io.Writer) error {
	aw, err := armor.Encode(w, openpgp.PrivateKeyType, nil)
	if err != nil {
		return err
	}
	if err := k.entity.SerializePrivateWithoutSigning(aw, nil); err != nil {
		return fmt.Errorf("serializing private key: %w", err)
	}
	return aw.Close()
}

// WritePublic writes the armored public key (RPM-GPG-KEY-keel).
func (k *Key) WritePublic(w io.Writer) error {
	aw, err := armor.Encode(w, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := k.entity.Serialize(aw); err != nil {
		return fmt.Errorf("serializing public key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// PublicArmored returns the armored public key, or nothing when it cannot
// be exported (WritePublic says why).
func (k *Key) PublicArmored() []byte {
	var b bytes.Buffer
	_ = k.WritePublic(&b)
	return b.Bytes()
}

// Fingerprint is the upper-case hex v4 fingerprint.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(hex.EncodeToString(k.priv().Fingerprint))
}

// KeyID is the 16-hex-digit long key ID (rpm shows its last 8 digits).
func (k *Key) KeyID() string { return fmt.Sprintf("%016x", k.priv().KeyId) }

// Sign returns a binary detached OpenPGP signature of message made at t
// (pass SOURCE_DATE_EPOCH for reproducible output: Ed25519 is deterministic).
func (k *Key) Sign(message io.Reader, t time.Time) ([]byte, error) {
	var b bytes.Buffer
	if err := k.detachSign(&b, message, t); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return b.Bytes(), nil
}

// SignArmored returns an armored detached signature (repomd.xml.asc).
func (k *Key) SignArmored(message io.Reader, t time.Time) ([]byte, error) {
	var b bytes.Buffer
	aw, err := armor.Encode(&b, openpgp.SignatureType, nil)
	if err == nil {
		if err = k.detachSign(aw, message, t); err == nil {
			err = aw.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// detachSign writes a binary detached signature made with the primary key;
// the library refuses expired, revoked and not-yet-valid keys.
func (k *Key) detachSign(w io.Writer, message io.Reader, t time.Time) error {
	return openpgp.DetachSign(w, k.entity, message, config(t))
}

// Ed25519PublicKey returns the signing key as a raw Ed25519 public key.
func (k *Key) Ed25519PublicKey() ed25519.PublicKey {
	return k.ed25519().Public().(ed25519.PublicKey)
}

// SignRaw makes a plain Ed25519 signature of msg with the same key,
// verifiable with crypto/ed25519.Verify(Ed25519PublicKey(), msg, sig).
func (k *Key) SignRaw(msg []byte) []byte { return ed25519.Sign(k.ed25519(), msg) }

func (k *Key) ed25519() ed25519.PrivateKey {
	sk := k.priv().PrivateKey.(*eddsa.PrivateKey)
	return ed25519.NewKeyFromSeed(sk.D)
}

// ErrUnknownKey means a signature was made by a key not in the keyring.
var ErrUnknownKey = pgperrors.ErrUnknownIssuer

// Keyring holds trusted public keys.
type Keyring struct {
	list openpgp.EntityList
}

// ReadKeyring reads armored or binary public keys.
func ReadKeyring(data []byte) (*Keyring, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading public keys: %w", err)
	}
	return &Keyring{list: el}, nil
}

// LoadKeyring reads the public key file at path.
func LoadKeyring(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kr, err := ReadKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// Keyring returns the key's own public keyring.
func (k *Key) Keyring() *Keyring {
	return &Keyring{list: openpgp.EntityList{k.entity}}
}

// Verify checks a detached signature (binary or armored) of message and
// returns the signing key's fingerprint.
func (kr *Keyring) Verify(message io.Reader, sig []byte) (string, error) {
	var sr io.Reader = bytes.NewReader(sig)
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		blk, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return "", fmt.Errorf("signature armor: %w", err)
		}
		sr = blk.Body
	}
	ent, err := openpgp.CheckDetachedSignature(kr.list, message, sr, &packet.Config{})
	if errors.Is(err, ErrUnknownKey) {
		return "", &UntrustedError{Signer: signer(sig), Trusted: kr.Describe()}
	}
	if err != nil {
		return "", fmt.Errorf("bad signature by key %s: %v", signer(sig), oneLine(err))
	}
	return strings.ToUpper(hex.EncodeToString(ent.PrimaryKey.Fingerprint)), nil
}

// oneLine is the library's message without its "openpgp: " prefix or line breaks.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "openpgp: ")), " ")
}
