package main

import (
	"bytes"
	"encoding/json"
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
chain and make the command fail. --json prints the json document as one line.`,
		Example: `  keel graph
  keel graph --format dot | dot -Tsvg > graph.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" && format != "dot" {
				return usageError{fmt.Errorf("--format %q: expected text, json or dot", format)}
			}
			specs, errs, err := f.readSpecs(cmd.Context(), a, args)
			if err != nil {
				return err
			}
			// Graph what parsed; the failures are reported and fail the command.
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "keel graph:", e)
			}
			g := graph.New(specs)
			out := cmd.OutOrStdout()
			switch {
			case a.json:
				var doc bytes.Buffer
				if err = g.WriteJSON(&doc); err == nil {
					var line bytes.Buffer
					if err = json.Compact(&line, doc.Bytes()); err == nil {
						_, err = fmt.Fprintln(out, line.String()) // one JSON line, as every --json
					}
				}
			case format == "text":
				err = g.WriteText(out)
			case format == "json":
				err = g.WriteJSON(out)
			default:
				err = g.WriteDOT(out)
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
