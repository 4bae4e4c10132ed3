// Package intoto writes and checks in-toto v1 statements with SLSA v1
// provenance predicates, wrapped in DSSE envelopes.
package intoto

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// Type URIs.
const (
	StatementType      = "https://in-toto.io/Statement/v1"
	SLSAProvenanceType = "https://slsa.dev/provenance/v1"
	PayloadType        = "application/vnd.in-toto+json"
)

// Subject is one artifact a statement speaks about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto v1 statement.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Provenance `json:"predicate"`
}

// Provenance is the SLSA v1 provenance predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

type ResourceDescriptor struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata,omitempty"`
}

type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

type Metadata struct {
	InvocationID string `json:"invocationId,omitempty"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding: what is actually signed.
func PAE(payloadType string, payload []byte) []byte {
	return []byte("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(payload)) + " " + string(payload))
}

// Signer signs bytes (e.g. an OpenPGP detached signature) and names its key.
type Signer interface {
	KeyID() string
	Sign(msg []byte) ([]byte, error)
}

// Seal signs a statement into an envelope.
func Seal(st *Statement, s Signer) (*Envelope, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(PAE(PayloadType, payload))
	if err != nil {
		return nil, err
	}
	return &Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []Signature{{KeyID: s.KeyID(), Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Open verifies an envelope with verify (called per signature until one
// succeeds) and returns its statement.
func Open(env *Envelope, verify func(msg, sig []byte) error) (*Statement, error) {
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("dsse: payloadType %q, want %q", env.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("dsse: payload: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("dsse: no signatures")
	}
	var lastErr error
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			lastErr = fmt.Errorf("dsse: signature encoding: %w", err)
			continue
		}
		if err := verify(PAE(env.PayloadType, payload), sig); err != nil {
			lastErr = err
			continue
		}
		var st Statement
		if err := json.Unmarshal(payload, &st); err != nil {
			return nil, fmt.Errorf("dsse: statement: %w", err)
		}
		if st.Type != StatementType {
			return nil, fmt.Errorf("statement _type %q, want %q", st.Type, StatementType)
		}
		return &st, nil
	}
	return nil, fmt.Errorf("dsse: no valid signature: %w", lastErr)
}
