package pgp

import (
	"bytes"
	"crypto/ed25519"
	"errors"
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

// A key read back from its directory signs as the key made it did, byte
// for byte (Ed25519 is deterministic), and refuses to sign before it was made.
func TestLoadedKeySigns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	made, _, err := InitDir(dir, "Keel Test", "test@keel.example", epoch, false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"", "repomd.xml contents", strings.Repeat("header ", 5000)} {
		for _, at := range []time.Time{epoch, epoch.Add(86400 * 400)} {
			a, err1 := k.SignArmored(strings.NewReader(msg), at)
			b, err2 := made.SignArmored(strings.NewReader(msg), at)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Fatalf("armored signature of the loaded key differs (%v, %v):\n%s\n%s", err1, err2, a, b)
			}
		}
	}
	if _, err := k.SignArmored(strings.NewReader("m"), epoch.Add(-time.Hour)); err == nil {
		t.Error("signed before the key's creation")
	}
	if k.Fingerprint() != made.Fingerprint() || k.KeyID() != made.KeyID() || !k.Created().Equal(made.Created()) {
		t.Error("identity fields differ between the made and the loaded key")
	}
	if !bytes.Equal(k.PublicArmored(), made.PublicArmored()) {
		t.Error("exported public key differs")
	}
	s, _ := k.SignArmored(strings.NewReader("m"), epoch)
	if fp, err := k.Keyring().Verify(strings.NewReader("m"), s); err != nil || fp != k.Fingerprint() {
		t.Fatalf("own keyring: %s %v", fp, err)
	}
}

// A key with a signing subkey loads; the primary key signs.
func TestKeyWithSubkey(t *testing.T) {
	full, _ := Generate("Sub", "s@x", epoch)
	if err := full.entity.AddSigningSubkey(config(epoch)); err != nil {
		t.Fatal(err)
	}
	var withSub bytes.Buffer
	if err := full.WritePrivate(&withSub); err != nil {
		t.Fatal(err)
	}
	k, err := ReadPrivate(bytes.NewReader(withSub.Bytes()))
	if err != nil {
		t.Fatalf("key with subkey: %v", err)
	}
	s, err := k.Sign(strings.NewReader("m"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := full.Keyring().Verify(strings.NewReader("m"), s); err != nil || fp != full.Fingerprint() {
		t.Fatalf("signature by the primary key: %s %v", fp, err)
	}
}

// FuzzReadPrivate: whatever ReadPrivate accepts signs, and its own keyring
// verifies what it signed.
func FuzzReadPrivate(f *testing.F) {
	k, _ := Generate("F", "f@x", epoch)
	var b bytes.Buffer
	_ = k.WritePrivate(&b)
	f.Add(b.Bytes())
	f.Add(k.PublicArmored())
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := ReadPrivate(bytes.NewReader(raw))
		if err != nil {
			return
		}
		at := epoch.Add(86400 * 3650)
		s, err := k.Sign(strings.NewReader("m"), at)
		if err != nil {
			return // e.g. an expired key
		}
		if _, err := k.Keyring().Verify(strings.NewReader("m"), s); err != nil {
			t.Fatalf("the key's own keyring refuses its signature: %v", err)
		}
	})
}

// A damaged self-signature: loading refuses the key, with the library's
// error, rather than signing with a key whose export would fail.
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
	if _, err := ReadPrivate(bytes.NewReader(arm.Bytes())); err == nil {
		t.Error("a key with a damaged self-signature loaded")
	}
}

// TestTrust: a signature by another key is one line naming the signer and
// the trusted keys; fingerprints and key IDs find keys in a store.
func TestTrust(t *testing.T) {
	at := time.Unix(1700000000, 0)
	k, _ := Generate("A", "a@keel.invalid", at)
	o, _ := Generate("B", "b@keel.invalid", at)
	sig, err := o.Sign(strings.NewReader("m"), at)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Keyring().Verify(strings.NewReader("m"), sig)
	want := "signed by key " + o.Fingerprint() + ", which is not trusted (trusted: " + k.Fingerprint() + " (A <a@keel.invalid>))"
	if err == nil || err.Error() != want || !errors.Is(err, ErrUnknownKey) {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	ksig, _ := k.SignArmored(strings.NewReader("m"), at)
	if _, err := k.Keyring().Verify(strings.NewReader("changed"), ksig); err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "bad signature by key "+k.Fingerprint()) {
		t.Errorf("tampered message: %v", err)
	}

	store := t.TempDir()
	os.WriteFile(filepath.Join(store, PublicFile), k.PublicArmored(), 0o644)
	os.MkdirAll(filepath.Join(store, TrustedDir), 0o755)
	os.WriteFile(filepath.Join(store, TrustedDir, "b.asc"), o.PublicArmored(), 0o644)
	kr, err := StoreKeyring(store)
	if err != nil || kr.Len() != 2 {
		t.Fatalf("store keyring: %v %v", kr, err)
	}
	for _, tc := range []struct {
		specs []string
		want  string // fingerprints, or an error substring
	}{
		{[]string{o.Fingerprint()}, o.Fingerprint()},
		{[]string{"0x" + o.KeyID()}, o.Fingerprint()},
		{[]string{strings.ToLower(k.Fingerprint()), filepath.Join(store, TrustedDir, "b.asc")}, strings.Join(kr.Fingerprints(), " ")},
		{[]string{"b.asc"}, o.Fingerprint()}, // relative to base
		{[]string{"0123456789ABCDEF"}, "not in the key store"},
		{[]string{"missing.asc"}, "missing.asc: no such file"},
	} {
		got, err := LoadTrusted(tc.specs, filepath.Join(store, TrustedDir), store)
		s := ""
		if err != nil {
			s = err.Error()
		} else {
			s = strings.Join(got.Fingerprints(), " ")
		}
		if !strings.Contains(s, tc.want) {
			t.Errorf("LoadTrusted(%v) = %q, want %q", tc.specs, s, tc.want)
		}
	}
	if !IsFingerprint("63E5 47F9 CD8B 64F7 3944  84AE DBEA 62DC 842B 6EAB") || IsFingerprint("./key.asc") || IsFingerprint("deadbeef") {
		t.Error("IsFingerprint")
	}
}
