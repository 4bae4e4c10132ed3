package uki

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitSigningKey(t *testing.T) {
	dir := t.TempDir()
	key, cert, made, err := InitSigningKey(dir, "Keel test", time.Unix(1700000000, 0))
	if err != nil || !made {
		t.Fatalf("first init: %v made=%v", err, made)
	}
	b, _ := os.ReadFile(cert)
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || c.Subject.CommonName != "Keel test" {
		t.Fatalf("certificate: %v %v", err, c)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if _, _, made, err := InitSigningKey(dir, "Keel test", time.Now()); err != nil || made {
		t.Errorf("second init must keep the pair: %v made=%v", err, made)
	}
	os.Remove(filepath.Join(dir, SigningCertFile))
	if _, _, _, err := InitSigningKey(dir, "Keel test", time.Now()); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("half a pair: %v", err)
	}
}
