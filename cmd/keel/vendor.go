package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/source"
)

// newSourcesVendorCmd is `keel sources vendor`: pin a Go program's module zip
// and its vendor tarball.
func newSourcesVendorCmd(a *app) *cobra.Command {
	var offline, dryRun, local bool
	c := &cobra.Command{
		Use:   "vendor PACKAGE [MODULE@VERSION]",
		Short: "Pin a Go program's module zip and a reproducible vendor tarball of its dependencies",
		Long: `Fetch the Go module the package builds from (MODULE@VERSION names or changes it;
default: the package's gomod: origin) from the Go module proxy (GOPROXY), resolve
its dependencies once with ` + "`go mod vendor`" + ` and pack them into a reproducible
tarball; pin both in <name>.signatures.json by sha256 and by go.sum lines (GoSums).
With --local the package's own Go program (a local: source directory holding
go.mod and go.sum, such as keel-init's src/) gets the vendor tarball instead.
Nothing changed gives the same bytes; a changed dependency is a pin change,
shown like any other. See docs/go.md.`,
		Example: "  keel sources vendor containerd github.com/containerd/containerd/v2@v2.4.2\n  keel sources vendor --dry-run containerd\n  keel sources vendor --local keel-init",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, f, _, err := a.sourcesSetup(args[:1], offline)
			if err != nil {
				return err
			}
			p := args[0]
			m, err := source.LoadManifest(filepath.Join(d.SpecsDir(), p), p)
			if err != nil {
				return err
			}
			switch {
			case local && len(args) == 2:
				return fmt.Errorf("%s: --local vendors the package's own go.mod; it takes no MODULE@VERSION", p)
			case local:
				if err := m.SetGoLocal(); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			case len(args) == 2:
				if err := m.SetGoModule(args[1]); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			changes, err := f.PinGo(cmd.Context(), p, m, dryRun)
			a.printPinChanges(cmd, changes)
			if err != nil {
				return err
			}
			if len(changes) == 0 && len(m.GoSums) == 0 {
				return fmt.Errorf("%s: no Go module origin in %s; name one: keel sources vendor %s MODULE@VERSION", p, m.Path(), p)
			}
			if !a.json {
				fmt.Fprintf(cmd.OutOrStdout(), "%d Go pins %s\n", len(changes), map[bool]string{true: "would change", false: "updated"}[dryRun])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&offline, "offline", false, "the Go module cache only (GOPROXY=off)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change, write nothing")
	c.Flags().BoolVar(&local, "local", false, "vendor the dependencies of the package's local: Go source (its go.mod and go.sum)")
	return c
}
