package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/host"
)

func init() {
	var packages, backports bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "List missing host tools and the command that installs them",
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if packages {
				fmt.Fprintln(out, strings.Join(host.Packages(backports), "\n"))
				return nil
			}
			missing := host.Missing()
			if globals.json {
				type row struct {
					Tool, Package, For string
					Present            bool
				}
				var rows []row
				for _, t := range host.Tools {
					rows = append(rows, row{t.Name, t.Package, t.For, host.Present(t)})
				}
				return json.NewEncoder(out).Encode(rows)
			}
			for _, t := range host.Tools {
				mark := "ok     "
				if !host.Present(t) {
					mark = "MISSING"
				}
				fmt.Fprintf(out, "%s %-45s %-22s %s\n", mark, t.Name, t.Package, t.For)
			}
			if len(missing) == 0 {
				fmt.Fprintln(out, "\nall host tools present")
				return nil
			}
			fmt.Fprintf(out, "\n%d missing; install with:\n  %s\n", len(missing), host.InstallCommand(missing))
			return exitError{code: 2, err: fmt.Errorf("%d host tools missing", len(missing))}
		},
	}
	cmd.Flags().BoolVar(&packages, "packages", false, "print the Debian packages Keel needs, one per line (used by scripts/setup)")
	cmd.Flags().BoolVar(&backports, "backports", false, "with --packages: the bookworm-backports ones")
	rootCmd.AddCommand(cmd)
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) ExitCode() int { return e.code }
func (e exitError) Unwrap() error { return e.err }
