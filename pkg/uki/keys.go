package uki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Secure Boot signing key files, kept beside the distribution's OpenPGP key.
const (
	SigningKeyFile  = "secureboot.key" // RSA-2048 private key, PEM, 0600
	SigningCertFile = "secureboot.crt" // self-signed X.509 certificate to enroll as PK/KEK/db
)

// InitSigningKey creates the Secure Boot signing key and certificate in dir
// unless both exist, and returns their paths. UEFI firmware verifies
// Authenticode signatures with RSA-2048 keys (what sbsign makes).
func InitSigningKey(dir, commonName string, notBefore time.Time) (key, cert string, created bool, err error) {
	key, cert = filepath.Join(dir, SigningKeyFile), filepath.Join(dir, SigningCertFile)
	_, kerr := os.Stat(key)
	_, cerr := os.Stat(cert)
	switch {
	case kerr == nil && cerr == nil:
		return key, cert, false, nil
	case kerr == nil || cerr == nil:
		return "", "", false, fmt.Errorf("%s: only one of %s and %s exists; restore the other or remove both", dir, SigningKeyFile, SigningCertFile)
	case !errors.Is(kerr, fs.ErrNotExist):
		return "", "", false, kerr
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, err
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", false, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return "", "", false, err
	}
	ski := sha256.Sum256(pubDER)
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(ski[:16]),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore.Add(-24 * time.Hour), NotAfter: notBefore.AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId: ski[:20], BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", "", false, err
	}
	if err := atomicfile.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600); err != nil {
		return "", "", false, err
	}
	if err := atomicfile.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", false, err
	}
	return key, cert, true, nil
}
