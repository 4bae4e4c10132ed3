package pgp

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

var epoch = time.Unix(1700000000, 0)

func TestKeyLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, made, err := InitDir(dir, "Keel Test", "test@keel.example", epoch, false)
	if err != nil || !made {
		t.Fatalf("InitDir: %v %v", made, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, SecretFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file mode: %v %v", fi, err)
	}
	k2, made, err := InitDir(dir, "Other", "o@x", epoch, false)
	if err != nil || made || k2.Fingerprint() != k.Fingerprint() {
		t.Fatalf("second InitDir must reuse the key: made=%v err=%v", made, err)
	}
	msg := []byte("repomd.xml contents")
	s1, err := k.SignArmored(bytes.NewReader(msg), epoch)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := k2.SignArmored(bytes.NewReader(msg), epoch)
	if !bytes.Equal(s1, s2) {
		t.Error("signatures at a fixed time are not reproducible")
	}
	kr, err := LoadKeyring(filepath.Join(dir, PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := kr.Verify(bytes.NewReader(msg), s1); err != nil || fp != k.Fingerprint() {
		t.Fatalf("Verify: %s %v", fp, err)
	}
	if _, err := kr.Verify(bytes.NewReader(append(msg, '!')), s1); err == nil {
		t.Error("tampered message verified")
	}
	other, _ := Generate("Other", "o@x", epoch)
	if _, err := other.Keyring().Verify(bytes.NewReader(msg), s1); err == nil {
		t.Error("wrong key verified")
	}
	// Raw Ed25519 with the same key.
	raw := k.SignRaw([]byte("roothash"))
	if !ed25519.Verify(k.Ed25519PublicKey(), []byte("roothash"), raw) {
		t.Error("raw ed25519 signature does not verify")
	}
	pubHex, _ := os.ReadFile(filepath.Join(dir, RawPubFile))
	if !strings.HasPrefix(string(pubHex), "") || len(strings.TrimSpace(string(pubHex))) != 64 {
		t.Errorf("raw public key file: %q", pubHex)
	}
}

func FuzzReadKeyring(f *testing.F) {
	k, _ := Generate("F", "f@x", epoch)
	f.Add(k.PublicArmored())
	f.Fuzz(func(t *testing.T, b []byte) {
		kr, err := ReadKeyring(b)
		if err != nil {
			return
		}
		kr.Verify(bytes.NewReader([]byte("x")), []byte("y"))
	})
}

// A key as `keel keys init` writes it is read without building the entity;
// its signatures must be the library's, byte for byte, and the entity
// (export, keyring) must still come out whole.
func TestOwnKeyFastPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, _, err := InitDir(dir, "Keel Test", "test@keel.example", epoch, false); err != nil {
		t.Fatal(err)
	}
	k, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.entity != nil {
		t.Fatal("keel's own key shape was read through the full entity")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, SecretFile))
	full, err := readEntity(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	lib := newKey(full)
	for _, msg := range []string{"", "repomd.xml contents", strings.Repeat("header ", 5000)} {
		for _, at := range []time.Time{epoch, epoch.Add(86400 * 400)} {
			a, err1 := k.SignArmored(strings.NewReader(msg), at)
			b, err2 := lib.SignArmored(strings.NewReader(msg), at)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Fatalf("armored signature differs from openpgp.ArmoredDetachSign (%v, %v):\n%s\n%s", err1, err2, a, b)
			}
			a, _ = k.Sign(strings.NewReader(msg), at)
			b, _ = lib.Sign(strings.NewReader(msg), at)
			if !bytes.Equal(a, b) {
				t.Fatal("binary signature differs from openpgp.DetachSign")
			}
		}
	}
	early := epoch.Add(-time.Hour) // before the key was made: both refuse
	_, err1 := k.SignArmored(strings.NewReader("m"), early)
	_, err2 := lib.SignArmored(strings.NewReader("m"), early)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Errorf("signing before the key's creation: fast path %v, library %v", err1, err2)
	}
	if k.Fingerprint() != lib.Fingerprint() || k.KeyID() != lib.KeyID() || !k.Created().Equal(lib.Created()) {
		t.Error("identity fields differ between the two readings")
	}
	if !bytes.Equal(k.PublicArmored(), lib.PublicArmored()) {
		t.Error("exported public key differs")
	}
	s, _ := k.SignArmored(strings.NewReader("m"), epoch)
	if fp, err := k.Keyring().Verify(strings.NewReader("m"), s); err != nil || fp != k.Fingerprint() {
		t.Fatalf("own keyring: %s %v", fp, err)
	}
}

// Keys of any other shape take the library's path, which judges expiry
// and subkeys; a damaged self-signature found later makes the keyring
// refuse, never pass as "unknown key".
func TestOtherKeyShapes(t *testing.T) {
	e, err := Generate("Keel Test", "test@keel.example", epoch)
	if err != nil {
		t.Fatal(err)
	}
	var withSub bytes.Buffer
	full, _ := Generate("Sub", "s@x", epoch)
	ent, _ := full.ent()
	if err := ent.AddSigningSubkey(config(epoch)); err != nil {
		t.Fatal(err)
	}
	if err := full.WritePrivate(&withSub); err != nil {
		t.Fatal(err)
	}
	if readOwn(withSub.Bytes()) != nil {
		t.Error("a key with a subkey was read through the fast path")
	}
	k, err := ReadPrivate(bytes.NewReader(withSub.Bytes()))
	if err != nil || k.entity == nil {
		t.Fatalf("key with subkey: %v", err)
	}
	unreadable := []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n")
	bad := &Key{priv: e.priv, lazy: func() (*openpgp.Entity, error) { return readEntity(bytes.NewReader(unreadable)) }}
	if _, err := bad.Keyring().Verify(strings.NewReader("m"), []byte("sig")); err == nil || errors.Is(err, ErrUnknownKey) {
		t.Errorf("keyring of an unreadable key: %v", err)
	}
}

// FuzzReadPrivate: whatever the fast path (readOwn) accepts, the library
// accepts too and signs with the same bytes.
func FuzzReadPrivate(f *testing.F) {
	k, _ := Generate("F", "f@x", epoch)
	var b bytes.Buffer
	_ = k.WritePrivate(&b)
	f.Add(b.Bytes())
	f.Add(k.PublicArmored())
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := ReadPrivate(bytes.NewReader(raw))
		if err != nil || k.entity != nil {
			return // refused, or read by the library itself
		}
		e, err := readEntity(bytes.NewReader(raw))
		if err != nil {
			// The library refuses it (a damaged self-signature, say): the
			// fast path signs, but export and keyring must refuse too.
			if k.WritePublic(io.Discard) == nil {
				t.Fatalf("the library refuses the key (%v), yet it exports", err)
			}
			if _, verr := k.Keyring().Verify(strings.NewReader("m"), []byte("s")); verr == nil || errors.Is(verr, ErrUnknownKey) {
				t.Fatalf("the library refuses the key (%v), yet its keyring says %v", err, verr)
			}
			return
		}
		at := epoch.Add(86400 * 3650)
		a, err1 := k.Sign(strings.NewReader("m"), at)
		b, err2 := newKey(e).Sign(strings.NewReader("m"), at)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(a, b) {
			t.Fatalf("signatures differ: %v / %v", err1, err2)
		}
	})
}

// A damaged self-signature: the fast path still signs (with the key itself,
// so signatures verify), but exporting the key fails with the library's
// error, as loading did before the fast path.
func TestDamagedSelfSignature(t *testing.T) {
	k, err := Generate("Keel Test", "test@keel.example", epoch)
	if err != nil {
		t.Fatal(err)
	}
	var bin bytes.Buffer
	if err := k.entity.SerializePrivateWithoutSigning(&bin, nil); err != nil {
		t.Fatal(err)
	}
	b := bin.Bytes()
	b[len(b)-3] ^= 0x40 // inside the self-signature's EdDSA value, the last packet
	var arm bytes.Buffer
	aw, _ := armor.Encode(&arm, openpgp.PrivateKeyType, nil)
	aw.Write(b)
	aw.Close()
	if _, err := readEntity(bytes.NewReader(arm.Bytes())); err == nil {
		t.Skip("this go-crypto accepts the damaged self-signature")
	}
	d, err := ReadPrivate(bytes.NewReader(arm.Bytes()))
	if err != nil || d.entity != nil {
		t.Fatalf("fast path: %v", err)
	}
	sig, err := d.SignArmored(strings.NewReader("m"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Keyring().Verify(strings.NewReader("m"), sig); err != nil {
		t.Errorf("signature by the same key material does not verify: %v", err)
	}
	if err := d.WritePublic(io.Discard); err == nil {
		t.Error("the key with a damaged self-signature exported")
	}
}
