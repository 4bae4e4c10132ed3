package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/host"
)

func newDoctorCmd(a *app) *cobra.Command {
	var packages, backports bool
	cmd := &cobra.Command{
		Use:     "doctor",
		Short:   "List missing host tools and the command that installs them",
		Long:    "Check every host tool keel's pipelines and tests run (rpmbuild, bwrap, QEMU, OVMF, ...) and print the command that installs the missing ones. Exit status 2 when any is missing.",
		Example: "  keel doctor\n  keel doctor --packages   # the Debian packages, one per line",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if packages {
				fmt.Fprintln(out, strings.Join(host.Packages(backports), "\n"))
				return nil
			}
			missing := host.Missing()
			if a.json {
				type row struct {
					Tool, Package, For string
					Present            bool
				}
				for _, t := range host.Tools {
					if err := emit(out, row{t.Name, t.Package, t.For, host.Present(t)}); err != nil {
						return err
					}
				}
				if len(missing) > 0 {
					return exitError{code: 2, err: fmt.Errorf("%d host tools missing", len(missing))}
				}
				return nil
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
	return cmd
}
