package verity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestSignature(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	var r RootHash
	r[0] = 0xab
	param := SignatureParam(ed25519.Sign(priv, r.SignedMessage()))
	if err := VerifySignature(pub, r, param); err != nil {
		t.Fatal(err)
	}
	r2 := r
	r2[31] = 1
	if err := VerifySignature(pub, r2, param); err == nil {
		t.Fatal("signature accepted for another root hash")
	}
	if err := VerifySignature(pub, r, "!!"); err == nil {
		t.Fatal("garbage accepted")
	}
	p, err := PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(p)
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil || !pub.Equal(k) {
		t.Fatalf("PEM round trip: %v", err)
	}
	if _, err := PublicKeyPEM(pub[:5]); err == nil {
		t.Fatal("short key accepted")
	}
}
