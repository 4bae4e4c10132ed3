package pgp

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
