package layers

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

const module = "github.com/keel-linux/keel/"

// layers reads docs/architecture.md's lists: package path -> layer.
func layers(t *testing.T) map[string]string {
	t.Helper()
	p := filepath.Join(testenv.RepoRoot(), "docs", "architecture.md")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	layer := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if h, ok := strings.CutPrefix(l, "## "); ok {
			layer = h
			continue
		}
		pkg, ok := strings.CutPrefix(l, "- ")
		if !ok || layer == "" || strings.ContainsAny(pkg, " *`") {
			continue
		}
		if prev, dup := out[pkg]; dup {
			t.Errorf("%s:%d: %s listed as %s and as %s", p, n, pkg, prev, layer)
		}
		out[pkg] = layer
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayerRule(t *testing.T) {
	testenv.RequireTool(t, "go")
	want := layers(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./pkg/...", "./internal/...")
	cmd.Dir = testenv.RepoRoot()
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		seen[pkg] = true
		layer, ok := want[pkg]
		if !ok {
			t.Errorf("%s is in no layer: add it to docs/architecture.md (formats, pipelines or shared)", pkg)
			continue
		}
		for _, dep := range fields[1:] {
			d, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue // standard library and third-party modules
			}
			switch dl := want[d]; {
			case strings.HasPrefix(d, "cmd/"):
				t.Errorf("%s (%s) depends on the CLI %s", pkg, layer, d)
			case layer == "formats" && dl == "pipelines":
				t.Errorf("format %s depends on pipeline %s", pkg, d)
			case layer == "shared" && (dl == "pipelines" || dl == "formats"):
				t.Errorf("shared package %s depends on %s %s", pkg, dl, d)
			}
		}
	}
	for pkg := range want {
		if !seen[pkg] {
			t.Errorf("docs/architecture.md lists %s, which go list does not know", pkg)
		}
	}
}
