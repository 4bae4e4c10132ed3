package main

import (
	"errors"
	"fmt"

	"github.com/keel-linux/keel/pkg/graph"
	"github.com/spf13/cobra"
)

func newGraphCmd(a *app) *cobra.Command {
	var f specFlags
	var format string
	cmd := &cobra.Command{
		Use:   "graph [PATH...]",
		Short: "Print the BuildRequires -> Provides build graph, its build layers and cycles",
		Long: `Read the specs (default <distro>/SPECS/*/*.spec) and print which source
package needs which before it can build: a BuildRequires satisfied by another
spec's binary package, or by the runtime Requires of such a package. Layers
list packages that may build in parallel. Cycles are printed with the exact
chain and make the command fail. --json is --format json.`,
		Example: `  keel graph
  keel graph --format dot | dot -Tsvg > graph.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			specs, errs, err := f.readSpecs(cmd.Context(), a, args)
			if err != nil {
				return err
			}
			// Graph what parsed; the failures are reported and fail the command.
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "keel graph:", e)
			}
			g := graph.New(specs)
			if a.json && format == "text" {
				format = "json"
			}
			out := cmd.OutOrStdout()
			switch format {
			case "text":
				err = g.WriteText(out)
			case "json":
				err = g.WriteJSON(out)
			case "dot":
				err = g.WriteDOT(out)
			default:
				return usageError{fmt.Errorf("--format %q: expected text, json or dot", format)}
			}
			if err != nil {
				return err
			}
			if _, err := g.Order(); err != nil {
				return err
			}
			if len(errs) > 0 {
				return fmt.Errorf("%d of %d specs failed to parse: %w", len(errs), len(errs)+len(specs), errors.Join(errs...))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json or dot")
	return cmd
}
