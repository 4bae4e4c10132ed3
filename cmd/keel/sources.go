package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/source"
)

func newSourcesCmd(a *app) *cobra.Command {
	var offline, goOnly bool
	fetch := &cobra.Command{
		Use:   "fetch [PACKAGE...]",
		Short: "Fetch every pinned source into the cache (lookaside first, then mirrors) and verify its sha256",
		Long: `Fetch every pinned file of the named packages (default: all) into the
cache: the lookaside directories first, then keel.yaml's mirrors. A file
whose sha256 differs from its pin is refused.`,
		Example: "  keel sources fetch\n  keel sources fetch --offline openssl",
		RunE: func(cmd *cobra.Command, args []string) error {
			d, f, pkgs, err := a.sourcesSetup(args, offline)
			if err != nil {
				return err
			}
			var failed []string
			for _, p := range pkgs {
				m, err := source.LoadManifest(filepath.Join(d.SpecsDir(), p), p)
				if err != nil {
					return err
				}
				for _, file := range m.Files() {
					if _, ok := m.Signatures[file]; !ok {
						continue // local origin: packed at build time
					}
					if goOnly && !source.IsGoOrigin(m.Origins[file]) {
						continue
					}
					path, err := f.Resolve(cmd.Context(), p, m, file)
					if err != nil {
						failed = append(failed, err.Error())
						continue
					}
					if !a.json {
						a.sayf(cmd.OutOrStdout(), "ok  %-16s %s\n", p, file)
					} else {
						emit(cmd.OutOrStdout(), map[string]string{"package": p, "file": file, "path": path, "sha256": m.Signatures[file]})
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d sources failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
			}
			return nil
		},
	}
	var dryRun bool
	pin := &cobra.Command{
		Use:   "pin [PACKAGE...]",
		Short: "Re-read sources from their origins and rewrite the pins where upstream moved on",
		Long: `Re-read every pinned file of the named packages (default: all) from its
origin without trusting the old pin — the first lookaside that has the
file, else Debian's archive — and rewrite <name>.signatures.json where the
sha256 changed. Review the diff before committing it: a pin that changes
for a release you did not expect to change is an alarm, not an update.`,
		Example: "  keel sources pin --dry-run\n  keel sources pin zlib",
		RunE: func(cmd *cobra.Command, args []string) error {
			d, f, pkgs, err := a.sourcesSetup(args, offline)
			if err != nil {
				return err
			}
			total := 0
			for _, p := range pkgs {
				m, err := source.LoadManifest(filepath.Join(d.SpecsDir(), p), p)
				if err != nil {
					return err
				}
				changes, err := f.Pin(cmd.Context(), p, m, dryRun)
				total += len(changes)
				a.printPinChanges(cmd, changes)
				if err != nil {
					return err
				}
			}
			if !a.json {
				verb := "updated"
				if dryRun {
					verb = "would update"
				}
				a.sayf(cmd.OutOrStdout(), "%d pins %s\n", total, verb)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{fetch, pin} {
		c.Flags().BoolVar(&offline, "offline", false, "lookaside and cache only, no network")
	}
	pin.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change, write nothing")
	fetch.Flags().BoolVar(&goOnly, "go", false, "only Go module sources (scripts/setup fetches them, so that offline builds find them in the Go module cache)")
	return group("sources", "Fetch, verify and re-pin the pinned inputs of the distribution's packages", `Every package's sources are pinned by sha256 in SPECS/<name>/<name>.signatures.json,
with their origin. fetch fills the cache from the pins; pin re-reads the
origins and rewrites pins that moved.`, fetch, pin, newSourcesVendorCmd(a))
}

func (a *app) printPinChanges(cmd *cobra.Command, changes []source.PinChange) {
	for _, c := range changes {
		if a.json {
			emit(cmd.OutOrStdout(), c)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s -> %s (from %s)\n", c.Package, c.File, orNone(c.Old), c.New, c.From)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (a *app) sourcesSetup(args []string, offline bool) (*distro.Distro, *source.Fetcher, []string, error) {
	d, err := a.distro()
	if err != nil {
		return nil, nil, nil, err
	}
	all, err := d.PackageNames()
	if err != nil {
		return nil, nil, nil, err
	}
	pkgs := args
	if len(pkgs) == 0 {
		pkgs = all
	}
	known := map[string]bool{}
	for _, p := range all {
		known[p] = true
	}
	for _, p := range pkgs {
		if !known[p] {
			return nil, nil, nil, fmt.Errorf("no package %q under %s", p, d.SpecsDir())
		}
	}
	f := &source.Fetcher{Lookaside: d.Lookaside(), Mirrors: d.Config.Sources.Mirrors, Store: filepath.Join(a.cacheDir(), "sources"), Offline: offline}
	return d, f, pkgs, nil
}
