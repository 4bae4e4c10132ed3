package rpm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/pgp"
)

// TestSignAcceptedByRPM signs with Keel's Ed25519 key and has rpm 4.18
// verify it with the key imported into a throwaway rpmdb.
func TestSignAcceptedByRPM(t *testing.T) {
	path := rpmbuild(t, richSpec)[0]
	key, err := pgp.Generate("Keel Test", "test@keel.example", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "signed.rpm")
	var buf bytes.Buffer
	if err := p.Sign(&buf, func(h []byte) ([]byte, error) {
		return key.Sign(bytes.NewReader(h), time.Unix(1700000000, 0))
	}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out, buf.Bytes(), 0o644)
	db := t.TempDir()
	pub := filepath.Join(t.TempDir(), "RPM-GPG-KEY-keel")
	os.WriteFile(pub, key.PublicArmored(), 0o644)
	if o, err := exec.Command("rpm", "--dbpath", db, "--import", pub).CombinedOutput(); err != nil {
		t.Fatalf("rpm --import: %v\n%s", err, o)
	}
	o, err := exec.Command("rpm", "--dbpath", db, "-Kv", out).CombinedOutput()
	if err != nil || !strings.Contains(string(o), "EdDSA/SHA256 Signature, key ID "+key.KeyID()[8:]+": OK") {
		t.Fatalf("rpm -Kv: %v\n%s", err, o)
	}
	// Unsigned and wrong-key packages fail rpm -K.
	other, _ := pgp.Generate("Other", "o@x", time.Unix(1700000000, 0))
	var ob bytes.Buffer
	p2, _ := Open(path)
	p2.Sign(&ob, func(h []byte) ([]byte, error) { return other.Sign(bytes.NewReader(h), time.Unix(1700000000, 0)) })
	wrong := filepath.Join(t.TempDir(), "wrong.rpm")
	os.WriteFile(wrong, ob.Bytes(), 0o644)
	if o, err := exec.Command("rpm", "--dbpath", db, "-K", wrong).CombinedOutput(); err == nil {
		t.Errorf("rpm -K accepted a wrong-key signature:\n%s", o)
	}
	// Re-reading the signed package finds the signature.
	q, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if q.HeaderSignature() == nil {
		t.Error("no header signature after signing")
	}
	if _, err := key.Keyring().Verify(bytes.NewReader(q.HeaderBlob), q.HeaderSignature()); err != nil {
		t.Error(err)
	}
}
