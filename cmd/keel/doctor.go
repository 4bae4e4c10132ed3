package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/host"
)

// doctorSpace is what a Keel Linux build needs free in the cache (sources,
// builds, unpacked kernels) and in the artifact directory (images).
const doctorSpace = 10 << 30

func newDoctorCmd(a *app) *cobra.Command {
	var packages, backports bool
	var keys string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the host: required and test-only tools, user namespaces, disk space, keys; the install command",
		Long: `Check what keel needs on this host: the tools a distribution build drives
(required: rpmbuild, bwrap, QEMU, OVMF, ...) and the ones only keel's own
tests and benchmarks run (test-only), whether bubblewrap can make its sandbox
(user namespaces), free space in the cache and the artifact directory, and
the signing keys. Missing tools come with the install command of this host's
package manager. Exit status 2 when a required tool or check fails.`,
		Example: "  keel doctor\n  keel doctor --packages   # the Debian packages, one per line",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if packages {
				if a.json {
					for _, p := range host.Packages(backports) {
						if err := emit(out, map[string]string{"package": p}); err != nil {
							return err
						}
					}
					return nil
				}
				fmt.Fprintln(out, strings.Join(host.Packages(backports), "\n"))
				return nil
			}
			checks := []host.Check{host.UserNamespaces(), host.DiskSpace("cache", a.cacheDir(), doctorSpace),
				host.DiskSpace("artifacts", a.out, doctorSpace)}
			checks = append(checks, host.Keys(distro.KeysAt(keys).Dir)...)
			required, testOnly := host.Missing(true), host.Missing(false)
			failed := len(required)
			for _, c := range checks {
				if c.Required && !c.OK {
					failed++
				}
			}
			if a.json {
				type row struct {
					Tool, Package, For string
					Present, TestOnly  bool
				}
				for _, t := range host.Tools {
					if err := emit(out, row{t.Name, t.Package, t.For, host.Present(t), t.TestOnly}); err != nil {
						return err
					}
				}
				for _, c := range checks {
					if err := emit(out, c); err != nil {
						return err
					}
				}
				if err := emit(out, map[string]string{"package_manager": host.PackageManager(),
					"install": host.InstallCommand(append(required, testOnly...))}); err != nil {
					return err
				}
			} else {
				printDoctor(out, checks, required, testOnly)
			}
			if failed > 0 {
				return exitError{code: 2, err: fmt.Errorf("%d required host tools or checks failed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&packages, "packages", false, "print the Debian packages Keel needs, one per line (used by scripts/setup)")
	cmd.Flags().BoolVar(&backports, "backports", false, "with --packages: the bookworm-backports ones")
	keysFlag(cmd, &keys, "to check")
	return cmd
}

func printDoctor(out io.Writer, checks []host.Check, required, testOnly []host.Tool) {
	mark := func(ok bool) string {
		if ok {
			return "ok     "
		}
		return "MISSING"
	}
	for _, g := range []struct {
		title    string
		testOnly bool
	}{{"required (build, repository, images, boot, release)", false}, {"test-only (keel's own tests and benchmarks)", true}} {
		fmt.Fprintln(out, g.title+":")
		for _, t := range host.Tools {
			if t.TestOnly == g.testOnly {
				fmt.Fprintf(out, "  %s %-45s %-22s %s\n", mark(host.Present(t)), t.Name, t.Package, t.For)
			}
		}
	}
	fmt.Fprintln(out, "host:")
	for _, c := range checks {
		m := mark(c.OK)
		if !c.OK && !c.Required {
			m = "WARN   "
		}
		fmt.Fprintf(out, "  %s %-22s %s\n", m, c.Name, c.Detail)
		if !c.OK && c.Fix != "" {
			fmt.Fprintf(out, "          fix: %s\n", c.Fix)
		}
	}
	pm := host.PackageManager()
	if pm == "" {
		pm = "no known package manager found"
	}
	if len(required) == 0 && len(testOnly) == 0 {
		fmt.Fprintf(out, "\nall host tools present (package manager: %s)\n", pm)
		return
	}
	if len(required) > 0 {
		fmt.Fprintf(out, "\n%d required tools missing; install with (%s):\n  %s\n", len(required), pm, host.InstallCommand(required))
	}
	if len(testOnly) > 0 {
		fmt.Fprintf(out, "\n%d test-only tools missing (only keel's tests need them); install with (%s):\n  %s\n", len(testOnly), pm, host.InstallCommand(testOnly))
	}
}
