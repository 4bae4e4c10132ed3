package ipe

import (
	"strings"
	"testing"
)

func TestVerifiedOnly(t *testing.T) {
	b, err := VerifiedOnly("keel-guard", "1.0.0").Text()
	if err != nil {
		t.Fatal(err)
	}
	want := `policy_name=keel-guard policy_version=1.0.0
DEFAULT action=DENY
op=EXECUTE boot_verified=TRUE action=ALLOW
op=EXECUTE dmverity_signature=TRUE action=ALLOW
op=KMODULE boot_verified=TRUE action=ALLOW
op=KMODULE dmverity_signature=TRUE action=ALLOW
op=FIRMWARE boot_verified=TRUE action=ALLOW
op=FIRMWARE dmverity_signature=TRUE action=ALLOW
`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{VerifiedOnly("a b", "1.0.0"), "policy name"},
		{VerifiedOnly("", "1.0.0"), "policy name"},
		{VerifiedOnly("x", "1.0"), "policy version"},
		{VerifiedOnly("x", "1.0.70000"), "at most 65535"},
		{Policy{Name: "x", Version: "1.0.0"}, "without rules"},
		{Policy{Name: "x", Version: "1.0.0", Rules: []Rule{{Op: "EXECUTE", Properties: []string{"a=b\nDEFAULT"}}}}, "property"},
	} {
		if _, err := tc.p.Text(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.p, err, tc.want)
		}
	}
	for _, m := range []string{"audit", "enforce"} {
		if _, err := ParseMode(m); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMode("permissive"); err == nil || !strings.Contains(err.Error(), "want audit or enforce") {
		t.Errorf("permissive: %v", err)
	}
}
