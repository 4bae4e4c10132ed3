package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/scaffold"
)

func newInitCmd(a *app) *cobra.Command {
	var opt scaffold.Options
	cmd := &cobra.Command{
		Use:   "init DIR --name NAME --version V",
		Short: "Start a new distribution: keel.yaml, a macros package, a release package, an example spec, an image",
		Long: `Write a new distribution tree into DIR (new or empty): keel.yaml naming the
distribution, SPECS/<name>-rpm-macros (hardening flags), SPECS/<name>-release
(os-release from keel.yaml), SPECS/example (a noarch package to copy from),
images/base.yaml (a container image) and kernel-policy.yaml. Every name Keel
writes for it (RPM-GPG-KEY-<name>, <name>.repo, purls, notes, dashboard)
comes from keel.yaml. Then: keel -C DIR build, keel -C DIR release cut.`,
		Example: "  keel init acme --name acme --version 2\n  keel -C acme build",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := scaffold.Init(args[0], opt); err != nil {
				return err
			}
			if a.json {
				return emit(cmd.OutOrStdout(), map[string]string{"dir": args[0], "name": opt.Name, "version": opt.Version})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: a new distribution tree (%s); build it with: keel -C %s build\n", args[0], opt.Name, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Name, "name", "", "the distribution's name (os-release ID, package and file prefix), e.g. acme")
	f.StringVar(&opt.Version, "version", "1", "the distribution's version; releases are <version>.YYYYMMDD")
	f.StringVar(&opt.PrettyName, "pretty-name", "", "human name (default: <Name> Linux)")
	f.StringVar(&opt.DistTag, "dist-tag", "", "rpm %{dist} (default: .<name><major version>)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
