package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvisionRelay: keel-provision's lines become provision.* facts;
// malformed lines and keys are counted, never printed.
func TestProvisionRelay(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "keel-provision")
	script := "#!/bin/sh\n" +
		"echo 'state=\"provisioned\"'\n" +
		"echo 'user.op=\"uid=1000 keys=1\"'\n" +
		"echo 'bad key=\"x\"'\n" +
		"echo 'KEEL-STATUS ok facts=1'\n" +
		"printf '%s\\n' 'note.x=\"two\\nlines\"'\n" +
		"exit 3\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	old := provisionProg
	provisionProg = prog
	defer func() { provisionProg = old }()
	r, w, _ := os.Pipe()
	stdout := os.Stdout
	os.Stdout = w
	provision()
	os.Stdout = stdout
	w.Close()
	b, _ := io.ReadAll(r)
	want := "KEEL-FACT provision.state=provisioned\n" +
		"KEEL-FACT provision.user.op=uid=1000 keys=1\n" +
		"KEEL-FACT provision.note.x=\"two\\nlines\"\n" +
		"KEEL-FACT provision.malformed=2\n" +
		"KEEL-FACT provision.exit=3\n"
	if got := string(b); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(string(b), "KEEL-STATUS") {
		t.Error("a provisioning line forged a status line")
	}
}
