package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/spec"
)

// TestOracleDistro: every spec of distro/ reads the same with keel and with
// rpmspec, given the distro's macros (keel.yaml and macros.keel).
func TestOracleDistro(t *testing.T) {
	testenv.RequireTool(t, "rpmspec")
	root := filepath.Join(testenv.RepoRoot(), "distro")
	specs, err := spec.FindSpecs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) == 0 {
		t.Fatalf("no specs under %s/SPECS", root)
	}
	var defs, load []string
	if d, err := distro.Load(root); err == nil {
		for _, m := range d.RPMMacros() {
			defs = append(defs, m.Name+" "+m.Value)
		}
	}
	mf := filepath.Join(root, "SPECS", "keel-rpm-macros", "macros.keel")
	if _, err := os.Stat(mf); err == nil {
		load = append(load, mf)
	}
	spec.CheckAgainstRpmspec(t, specs, defs, load)
}
