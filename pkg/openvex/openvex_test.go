package openvex

import (
	"strings"
	"testing"
)

const doc = `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://k/vex/1","author":"K","timestamp":"2024-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2023-45853"},"products":[{"@id":"pkg:rpm/keel/zlib"}],"status":"not_affected","justification":"vulnerable_code_not_present"}]}`

func TestParseValidate(t *testing.T) {
	d, err := Parse("v.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Marshal(d); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"justification":"vulnerable_code_not_present"`, `"justification":"nah"`, "not an OpenVEX justification"},
		{`"status":"not_affected","justification":"vulnerable_code_not_present"`, `"status":"not_affected"`, "needs a justification"},
		{`"status":"not_affected","justification":"vulnerable_code_not_present"`, `"status":"affected"`, "action_statement"},
		{`"version":1`, `"version":0`, "version"},
	} {
		if _, err := Parse("v.json", []byte(strings.Replace(doc, c.from, c.to, 1))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.to, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(doc))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse("f", b)
		if err == nil {
			if _, err := Marshal(d); err != nil {
				t.Fatalf("accepted document does not marshal: %v", err)
			}
		}
	})
}
