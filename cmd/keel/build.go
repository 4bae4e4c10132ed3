package main

import (
	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/build"
)

func newBuildCmd(a *app) *cobra.Command {
	var opt struct {
		jobs    int
		rebuild bool
		offline bool
	}
	cmd := &cobra.Command{
		Use:   "build [PACKAGE...]",
		Short: "Build the distribution's packages: sandboxed rpmbuild, hardened, reproducible, cached",
		Long: `Build every package of the distribution tree (or the named ones and their
build dependencies) with rpmbuild in a bubblewrap sandbox, in dependency order
and in parallel. Each package is cached by the content of its inputs; a
package rebuilds only when its spec, sources, macros or build dependencies
change. Every ELF in every source-built RPM must pass the hardening check.

Artifacts: <out>/rpms/<arch>/, <out>/srpms/, <out>/logs/<pkg>.log,
<out>/reports/hardening/<pkg>.json and <out>/build.json.`,
		Example: `  keel build                  # every package, cached where nothing changed
  keel build -j 2 openssl     # openssl and what it needs, two at a time
  keel build --json | jq -c 'select(.state=="failed")'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.distro()
			if err != nil {
				return err
			}
			res, err := build.Run(cmd.Context(), build.Options{
				Distro: d, Cache: a.cacheDir(), Out: a.out, Jobs: opt.jobs,
				Only: args, Rebuild: opt.rebuild, Offline: opt.offline,
			})
			if res != nil {
				built, cached := 0, 0
				for _, p := range res.Packages {
					if p.Error == "" {
						if p.Cached {
							cached++
						} else {
							built++
						}
					}
				}
				if a.json {
					emit(cmd.OutOrStdout(), map[string]any{"built": built, "cached": cached, "failed": len(res.Failed()),
						"seconds": res.Seconds, "rpm_dir": res.RPMDir})
				} else {
					a.sayf(cmd.OutOrStdout(), "%d built, %d cached, %d failed in %.1fs; packages in %s\n",
						built, cached, len(res.Failed()), res.Seconds, res.RPMDir)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	intFlagP(f, &opt.jobs, "jobs", "j", 0, 0, 1024, "parallel package builds (default: build.jobs in keel.yaml, else CPUs)")
	f.BoolVar(&opt.rebuild, "rebuild", false, "ignore cached builds")
	f.BoolVar(&opt.offline, "offline", false, "never use the network (lookaside and cache only)")
	return cmd
}
