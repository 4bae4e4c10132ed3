package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/assess"
)

// assessCommands are the subcommands of keel assess; each file adds its
// own in an init (workload here, upgrade and bench beside it).
var assessCommands = []func(*app) *cobra.Command{newAssessWorkloadCmd}

func newAssessCmd(a *app) *cobra.Command {
	var subs []*cobra.Command
	for _, f := range assessCommands {
		subs = append(subs, f(a))
	}
	return group("assess", "Will workloads survive a release?",
		`Answer, from release artifacts alone, whether workloads still run on a
release: a workload image checked against a base as the dynamic loader
and the kernel would check it (workload), and what changes between two
releases (upgrade, bench).`, subs...)
}

func newAssessWorkloadCmd(a *app) *cobra.Command {
	var base, baseImage, image string
	c := &cobra.Command{
		Use:   "workload --base RELEASE|MANIFEST --image OCI|ARCHIVE|DIR",
		Short: "Check a workload image's ELF files, scripts, entry point and user against a release's base image",
		Long: `Check a workload against a base as glibc's ld.so and the kernel would,
without running it. The base is a release directory (its container image
--base-image, default container-core, and its repository) or an image
directory / manifest.json (a container image's OCI layout or docker-archive
output). The workload is an OCI layout, a docker-archive or a directory
root; its files are stacked on the base's root as a container runtime
stacks layers, nothing is unpacked to disk.

For every ELF file of the workload: its interpreter, each DT_NEEDED soname
searched as the loader searches (DT_RPATH unless DT_RUNPATH, DT_RUNPATH,
ld.so.conf's directories when the root has an ld.so.cache, the system
directories), each required symbol version (GLIBC_2.38 from libc.so.6)
against what the loaded libraries define. Every executable script's "#!"
interpreter, the program ENTRYPOINT/CMD names and the USER of the image
config. Each break names the file, the need and why it is unmet: a
missing package (the release's package that provides it), a missing
soname or file, a symbol version too new. A corrupt ELF file is a
warning and the rest is still assessed.

Exit status 0 when nothing is unmet, 3 when something is.`,
		Example: "  keel assess workload --base releases/1.0.20261207 --image app.tar\n" +
			"  keel assess workload --base releases/1.0.20261207 --base-image distroless --image oci/ --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if base == "" || image == "" {
				return usageError{fmt.Errorf("--base and --image are required")}
			}
			a.startView(cmd)
			defer a.stopView()
			rep, err := assess.Workload(cmd.Context(), base, baseImage, image)
			if err != nil {
				return fmt.Errorf("assess workload: %w", err)
			}
			a.stopView()
			out := cmd.OutOrStdout()
			if a.json {
				if err := emit(out, rep); err != nil {
					return err
				}
			} else {
				printWorkload(out, rep)
			}
			if !rep.OK() {
				return exitError{code: 3, err: fmt.Errorf("%d unmet needs in %s on %s", len(rep.Breaks), image, rep.Base.Image)}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&base, "base", "", "release directory, image directory or image manifest.json the workload runs on")
	f.StringVar(&baseImage, "base-image", "", "the release's container image that is the base (default "+assess.DefaultBaseImage+")")
	f.StringVar(&image, "image", "", "the workload: OCI layout, docker-archive or directory root")
	return c
}

func printWorkload(w io.Writer, rep *assess.Report) {
	on := rep.Base.Image
	if rep.Base.Release != "" {
		on += " of " + rep.Base.Release
	}
	fmt.Fprintf(w, "%s on %s: %d files, %d ELF (%d static), %d scripts\n", rep.Image, on, rep.Files, rep.ELF, rep.Static, rep.Scripts)
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s: %s\n", wn.File, wn.Message)
	}
	if rep.OK() {
		fmt.Fprintln(w, "ok: every need is met")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tKIND\tNEED\tWHY\tDETAIL")
	for _, b := range rep.Breaks {
		why := b.Why
		if b.Package != "" {
			why += ": " + b.Package
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.File, b.Kind, b.Need, why, strings.ReplaceAll(b.Detail, "\t", " "))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d unmet\n", len(rep.Breaks))
}
