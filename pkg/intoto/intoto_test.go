package intoto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
)

type edSigner struct{ k ed25519.PrivateKey }

func (s edSigner) KeyID() string                   { return "test" }
func (s edSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.k, msg), nil }

func TestSealOpen(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	st := &Statement{Type: StatementType, PredicateType: SLSAProvenanceType,
		Subject: []Subject{{Name: "a.rpm", Digest: map[string]string{"sha256": "00"}}}}
	env, err := Seal(st, edSigner{priv})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(msg, sig []byte) error {
		if !ed25519.Verify(pub, msg, sig) {
			return errors.New("bad signature")
		}
		return nil
	}
	got, err := Open(env, verify)
	if err != nil || got.Subject[0].Name != "a.rpm" {
		t.Fatalf("Open: %v %+v", err, got)
	}
	// A changed payload (a substituted digest) must not verify.
	forged := *env
	b, _ := json.Marshal(&Statement{Type: StatementType, Subject: []Subject{{Name: "a.rpm", Digest: map[string]string{"sha256": "ff"}}}})
	forged.Payload = string(b)
	if _, err := Open(&forged, verify); err == nil {
		t.Fatal("forged payload accepted")
	}
	if string(PAE("t", []byte("hi"))) != "DSSEv1 1 t 2 hi" {
		t.Error("PAE encoding")
	}
}
