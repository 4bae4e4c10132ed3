// Package kernelsig makes and checks the PKCS#7 signatures the Linux kernel
// verifies against its trusted keyrings (verify_pkcs7_signature): a dm-verity
// root hash signature (detached, root_hash_sig_key_desc) and a signed IPE
// policy (attached content). Both carry no signed attributes, so there is no
// signing time and the bytes depend only on the key and the data (RSA
// PKCS#1 v1.5 is deterministic): two image builds sign alike.
//
// The kernel finds the signer's key by issuer and serial number in its
// builtin, secondary or platform keyring; Keel's Secure Boot db certificate
// is what firmware puts in the platform keyring.
package kernelsig

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/smallstep/pkcs7"
)

// Signer is an RSA key and its X.509 certificate.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Load reads a PEM private key (PKCS#1 or PKCS#8) and a PEM certificate, and
// checks that they belong together.
func Load(keyFile, certFile string) (*Signer, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("kernelsig: %w", err)
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("kernelsig: %w", err)
	}
	kblk, _ := pem.Decode(kb)
	if kblk == nil {
		return nil, fmt.Errorf("kernelsig: %s: no PEM private key", keyFile)
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS1PrivateKey(kblk.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("kernelsig: %s: want an RSA key (what Secure Boot and the kernel's keyrings use)", keyFile)
		}
		key = rk
	} else {
		return nil, fmt.Errorf("kernelsig: %s: not a PKCS#1 or PKCS#8 private key", keyFile)
	}
	cblk, _ := pem.Decode(cb)
	if cblk == nil || cblk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("kernelsig: %s: no PEM CERTIFICATE", certFile)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("kernelsig: %s: %w", certFile, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("kernelsig: %s is not the certificate of the key %s", certFile, keyFile)
	}
	return &Signer{Cert: cert, Key: key}, nil
}

// Detached signs data and leaves it out of the signature (what dm-verity's
// root_hash_sig_key_desc names: the root hash is in the table).
func (s *Signer) Detached(data []byte) ([]byte, error) { return s.sign(data, true) }

// Attached signs data and carries it inside (what IPE's new_policy reads).
func (s *Signer) Attached(data []byte) ([]byte, error) { return s.sign(data, false) }

func (s *Signer) sign(data []byte, detached bool) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return nil, fmt.Errorf("kernelsig: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	// rsaEncryption, as sign-file and openssl write it (the kernel's
	// PKCS#7 parser names the hash separately).
	sd.SetEncryptionAlgorithm(pkcs7.OIDEncryptionAlgorithmRSA)
	if err := sd.SignWithoutAttr(s.Cert, s.Key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("kernelsig: %w", err)
	}
	if detached {
		sd.Detach()
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("kernelsig: %w", err)
	}
	return der, nil
}

// Verify checks a signature as the kernel would with cert in a trusted
// keyring: the signer is cert (by issuer and serial number) and the signature
// verifies over content (detached) or over the content it carries (content
// nil). It returns the signed content.
func Verify(sig, content []byte, cert *x509.Certificate) ([]byte, error) {
	if len(sig) == 0 {
		return nil, errors.New("kernelsig: empty signature (unsigned)")
	}
	p7, err := pkcs7.Parse(sig)
	if err != nil {
		return nil, fmt.Errorf("kernelsig: not a PKCS#7 signature: %w", err)
	}
	if content != nil {
		if len(p7.Content) != 0 && !bytes.Equal(p7.Content, content) {
			return nil, errors.New("kernelsig: the signature carries other content than the one given")
		}
		p7.Content = content
	}
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("kernelsig: %d signers, want 1", len(p7.Signers))
	}
	si := p7.Signers[0]
	if si.IssuerAndSerialNumber.SerialNumber == nil || si.IssuerAndSerialNumber.SerialNumber.Cmp(cert.SerialNumber) != 0 ||
		!bytes.Equal(si.IssuerAndSerialNumber.IssuerName.FullBytes, cert.RawIssuer) {
		return nil, fmt.Errorf("kernelsig: signed by another key than %q (issuer and serial number differ)", cert.Subject.CommonName)
	}
	// The embedded certificate (if any) is not trusted: check with cert.
	p7.Certificates = []*x509.Certificate{cert}
	if err := p7.Verify(); err != nil {
		return nil, fmt.Errorf("kernelsig: signature does not verify with %q: %w", cert.Subject.CommonName, err)
	}
	return p7.Content, nil
}
