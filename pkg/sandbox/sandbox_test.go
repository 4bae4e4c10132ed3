package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestSandboxIsolation(t *testing.T) {
	testenv.RequireTool(t, "bwrap")
	work := t.TempDir()
	s := Spec{
		Binds: map[string]string{work: "/work"},
		Env:   map[string]string{"PATH": "/usr/bin:/bin", "MARK": "x"},
		Dir:   "/work",
	}
	script := `set -u
echo "env=$MARK home=${HOME:-unset}"
touch /work/ok && echo wrote-work
touch /usr/keel-sandbox-probe 2>/dev/null && echo wrote-usr || echo ro-usr
ls /tmp | wc -l
ls /root /home /work 2>&1 | head -3
tail -n +3 /proc/net/dev | cut -d: -f1
`
	cmd, err := Command(context.Background(), s, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"env=x home=unset", "wrote-work", "ro-usr"} {
		if !strings.Contains(got, want) {
			t.Errorf("sandbox output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "/root") || strings.Contains(got, "sandbox_test.go") {
		t.Errorf("host directories visible in the sandbox:\n%s", got)
	}
	if strings.Contains(got, "eth") || strings.Contains(got, "ens") {
		t.Errorf("network interfaces visible in the sandbox:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(work, "ok")); err != nil {
		t.Errorf("bind mount not writable through: %v", err)
	}
}
