package verity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Root hash signatures as keel-init checks them at boot: a raw Ed25519
// signature over the lowercase hex root hash (64 ASCII bytes), carried
// base64-encoded in keel.roothash.sig=, verified against PEM public keys
// embedded in the initramfs.

// SignedMessage is what gets signed: the hex form of the root hash.
func (r RootHash) SignedMessage() []byte { return []byte(r.String()) }

// SignatureParam is the keel.roothash.sig= value for sig.
func SignatureParam(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// PublicKeyPEM encodes an Ed25519 public key the way the initramfs carries it
// (PKIX "PUBLIC KEY"), e.g. from pgp.Key.Ed25519PublicKey().
func PublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verity: Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// VerifySignature checks a keel.roothash.sig= value as keel-init does, so the
// pipeline can refuse to write an image that would not boot.
func VerifySignature(pub ed25519.PublicKey, r RootHash, sigParam string) error {
	sig, err := base64.StdEncoding.DecodeString(sigParam)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("verity: root hash signature: want base64 of a %d-byte Ed25519 signature", ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, r.SignedMessage(), sig) {
		return errors.New("verity: root hash signature does not verify")
	}
	return nil
}
