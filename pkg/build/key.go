package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/source"
)

// keyVersion changes whenever the way keel builds changes in a way that
// must invalidate every cached package.
const keyVersion = "keel-build/6"

// toolchainID names the host tools a build runs with; a new compiler,
// rpm or Go rebuilds everything.
func toolchainID(ctx context.Context) (string, error) {
	var parts []string
	for _, c := range [][]string{{"rpmbuild", "--version"}, {"gcc", "--version"}, {"go", "version"}, {"bwrap", "--version"}} {
		out, err := exec.CommandContext(ctx, c[0], c[1:]...).Output()
		if err != nil {
			if c[0] == "go" {
				continue // only Go packages need it; they fail loudly without it
			}
			return "", fmt.Errorf("host tool %s not usable (%v); run `keel doctor`", c[0], err)
		}
		line, _, _ := strings.Cut(string(out), "\n")
		parts = append(parts, strings.TrimSpace(line))
	}
	return strings.Join(parts, "; "), nil
}

// key is the content address of a package build: the spec and every file
// beside it, the pinned sources, the distribution's macros, the
// SOURCE_DATE_EPOCH policy, the host toolchain and the exact RPMs of the
// build-dependency closure.
func (b *Builder) key(s *Spec, depRPMs []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ntoolchain %s\n", keyVersion, b.toolchain)
	for _, m := range b.opt.Distro.RPMMacros() {
		fmt.Fprintf(h, "define %s %s\n", m.Name, m.Value)
	}
	cfg := b.opt.Distro.Config
	fmt.Fprintf(h, "sde %v %d %d\nsandbox %s\n", cfg.SDE.FromChangelog, cfg.SDE.Fixed, s.ChangelogTime, cfg.Build.Sandbox)
	fmt.Fprintf(h, "hardening %v\n", cfg.Hardening.Require)
	for _, e := range cfg.Hardening.Exemptions {
		fmt.Fprintf(h, "exempt %s %s %v\n", e.Package, e.Path, e.Checks)
	}
	if err := source.HashTree(h, s.Dir()); err != nil {
		return "", fmt.Errorf("%s: %w", s.Name, err)
	}
	files := make([]string, 0, len(s.manifest.Signatures))
	for f := range s.manifest.Signatures {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(h, "pin %s %s\n", f, s.manifest.Signatures[f])
	}
	for _, r := range depRPMs {
		sum, err := source.Hash(r)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "dep %s %s\n", filepath.Base(r), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
