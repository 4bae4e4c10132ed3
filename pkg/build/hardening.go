package build

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/elfcheck"
	"github.com/keel-linux/keel/pkg/source"
)

// HardeningReport is hardening.json: every ELF of every binary RPM of one
// source package, checked.
type HardeningReport struct {
	Package  string          `json:"package"`
	Type     string          `json:"type"`
	Required []string        `json:"required"`
	Files    []HardeningFile `json:"files"`
	Failures []string        `json:"failures,omitempty"` // "rpm:path: check (why)"
	Exempted []string        `json:"exempted,omitempty"` // "rpm:path: check (reason)"
	Summary  map[string]int  `json:"summary"`            // check -> failing files
}

// HardeningFile is one ELF in one RPM.
type HardeningFile struct {
	RPM string `json:"rpm"`
	*elfcheck.Result
}

// checkHardening unpacks each RPM and checks its ELFs. Source-built
// packages fail on any required check not exempted in keel.yaml; imported
// ones are reported only.
func (b *Builder) checkHardening(ctx context.Context, s *Spec, entry string, rpms []string) (*HardeningReport, error) {
	cfg := b.opt.Distro.Config.Hardening
	rep := &HardeningReport{Package: s.Name, Type: s.Type, Required: cfg.Require, Files: []HardeningFile{}, Summary: map[string]int{}}
	for _, r := range rpms {
		dir, err := os.MkdirTemp(filepath.Join(b.opt.Cache, "work"), "elf-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if err := unpackRPM(ctx, filepath.Join(entry, "rpms", r), dir); err != nil {
			return nil, fmt.Errorf("unpacking %s for the hardening check: %w", r, err)
		}
		rpmName := binaryName(r)
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			head := make([]byte, 4)
			if n, _ := f.Read(head); n < 4 || !elfcheck.IsELF(head) {
				return nil
			}
			inPkg := "/" + filepath.ToSlash(strings.TrimPrefix(p, dir+"/"))
			res, err := elfcheck.Check(inPkg, f)
			if err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
			rep.Files = append(rep.Files, HardeningFile{RPM: r, Result: res})
			for _, c := range res.Failed(cfg.Require) {
				rep.Summary[c]++
				line := fmt.Sprintf("%s:%s: %s (%s)", rpmName, inPkg, c, res.Notes[c])
				if reason, ok := exempt(cfg.Exemptions, rpmName, inPkg, c); ok {
					rep.Exempted = append(rep.Exempted, fmt.Sprintf("%s:%s: %s (exempt: %s)", rpmName, inPkg, c, reason))
					continue
				}
				rep.Failures = append(rep.Failures, line)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(rep.Files, func(i, j int) bool {
		if rep.Files[i].RPM != rep.Files[j].RPM {
			return rep.Files[i].RPM < rep.Files[j].RPM
		}
		return rep.Files[i].Path < rep.Files[j].Path
	})
	sort.Strings(rep.Failures)
	if s.Type == source.TypeImported || len(rep.Failures) == 0 {
		return rep, nil
	}
	show := rep.Failures
	if len(show) > 10 {
		show = append(show[:10:10], fmt.Sprintf("... and %d more", len(rep.Failures)-10))
	}
	return rep, fmt.Errorf("hardening check failed for %d ELF check(s) (fix the build flags, or add a written exemption under hardening.exemptions in keel.yaml):\n    %s",
		len(rep.Failures), strings.Join(show, "\n    "))
}

func exempt(ex []distro.Exemption, pkg, file, check string) (string, bool) {
	for _, e := range ex {
		if e.Package != pkg {
			continue
		}
		if ok, _ := path.Match(e.Path, file); !ok {
			continue
		}
		for _, c := range e.Checks {
			if c == check {
				return e.Reason, true
			}
		}
	}
	return "", false
}

// binaryName takes the package name from name-version-release.arch.rpm.
func binaryName(file string) string {
	base := strings.TrimSuffix(file, ".rpm")
	for i := 0; i < 3; i++ { // strip .arch, -release, -version
		var j int
		if i == 0 {
			j = strings.LastIndexByte(base, '.')
		} else {
			j = strings.LastIndexByte(base, '-')
		}
		if j < 0 {
			return base
		}
		base = base[:j]
	}
	return base
}
