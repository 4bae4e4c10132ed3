package kernelsig

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

// newSigner writes a self-signed RSA key pair like keel keys init's
// Secure Boot one into dir.
func newSigner(t testing.TB, dir, cn string) (keyFile, certFile string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, certFile = filepath.Join(dir, cn+".key"), filepath.Join(dir, cn+".crt")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return keyFile, certFile
}

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	s, err := Load(newSigner(t, dir, "keel"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(newSigner(t, dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	hash := []byte(strings.Repeat("ab", 32))
	det, err := s.Detached(hash)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Detached(hash)
	if !bytes.Equal(det, again) {
		t.Error("two detached signatures of the same data differ (want deterministic bytes)")
	}
	if _, err := Verify(det, hash, s.Cert); err != nil {
		t.Errorf("detached: %v", err)
	}
	att, err := s.Attached([]byte("policy"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Verify(att, nil, s.Cert); err != nil || string(got) != "policy" {
		t.Errorf("attached: %q, %v", got, err)
	}
	for _, tc := range []struct {
		name, want   string
		sig, content []byte
		cert         *x509.Certificate
	}{
		{"unsigned", "not a PKCS#7", []byte("policy_name=x"), nil, s.Cert},
		{"empty", "unsigned", nil, nil, s.Cert},
		{"other content", "does not verify", det, []byte(strings.Repeat("cd", 32)), s.Cert},
		{"other key", "signed by another key", det, hash, other.Cert},
	} {
		if _, err := Verify(tc.sig, tc.content, tc.cert); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "keel.key"), filepath.Join(dir, "other.crt")); err == nil || !strings.Contains(err.Error(), "is not the certificate of") {
		t.Errorf("mismatched key and certificate: %v", err)
	}
}

// TestOpenSSLAgrees: openssl verifies what Keel signs, detached and attached.
func TestOpenSSLAgrees(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	keyFile, certFile := newSigner(t, dir, "keel")
	s, err := Load(keyFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte(strings.Repeat("0f", 32)), 0o644)
	det, _ := s.Detached([]byte(strings.Repeat("0f", 32)))
	att, _ := s.Attached([]byte("policy_name=keel policy_version=1.0.0\n"))
	os.WriteFile(filepath.Join(dir, "det.p7s"), det, 0o644)
	os.WriteFile(filepath.Join(dir, "att.p7s"), att, 0o644)
	for _, args := range [][]string{
		{"-in", filepath.Join(dir, "det.p7s"), "-content", data},
		{"-in", filepath.Join(dir, "att.p7s")},
	} {
		cmd := exec.Command("openssl", append([]string{"smime", "-verify", "-binary", "-inform", "DER", "-CAfile", certFile, "-purpose", "any", "-out", os.DevNull}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verification successful") {
			t.Errorf("openssl smime -verify %v: %v\n%s", args, err, out)
		}
	}
}

// FuzzVerify: any bytes as a signature give a result or an error, never a
// panic.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	s, err := Load(newSigner(f, dir, "keel"))
	if err != nil {
		f.Fatal(err)
	}
	det, _ := s.Detached([]byte("0f"))
	att, _ := s.Attached([]byte("policy"))
	f.Add(det, []byte("0f"))
	f.Add(att, []byte(nil))
	f.Add([]byte("policy_name=x"), []byte(nil))
	f.Add(det[:len(det)/2], []byte("0f"))
	f.Fuzz(func(t *testing.T, sig, content []byte) {
		Verify(sig, content, s.Cert)
	})
}
