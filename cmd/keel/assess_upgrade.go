package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/assess"
	"github.com/keel-linux/keel/pkg/lifecycle"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// The upgrade half of keel assess (issue #25): upgrade and bench.
func init() { assessCommands = append(assessCommands, newAssessUpgradeCmd, newAssessBenchCmd) }

func newAssessUpgradeCmd(a *app) *cobra.Command {
	var from, to, releases, lifecycleFile, date, failOn, workload, baseImage string
	var repos, defines, fromDefines, toDefines []string
	cmd := &cobra.Command{
		Use:   "upgrade --from A --to B",
		Short: "What moving from release (or image) A to B changes: packages, sonames, symbol versions, config, kernel, sysctl, services, support dates",
		Long: `Compare two releases (a version under --releases or a release directory),
two image manifests (images/<name>/manifest.json of a release or of keel image
build; packages found in the release's repo/ or --repo), or two distribution
source trees (specs alone, as keel release diff reads them), and say what
moving from A to B changes under a workload, with a risk summary on top:

  high    packages removed with no replacement, sonames (libfoo.so.1()(64bit))
          or symbol versions (libc.so.6(GLIBC_2.34)(64bit)) no package of B
          provides, a target line past its security support
  medium  packages obsoleted or renamed (Obsoletes / Provides of B's headers),
          kernel options turned off or policy verdicts moved, sysctl defaults
          changed (the packages' sysctl.d files, the definitions' sysctl:),
          services no longer started (the definitions' services:), %config
          files whose digest changed
  low     updates, additions, kernel version, support dates coming up

--workload IMAGE asks both questions at once: the workload is checked
against each side's base image as keel assess workload checks it, and the
breaks only the new side has are high risk.

Support dates come from lifecycle.yaml (--lifecycle, default the tree's
lifecycle.yaml, else the copy each release carries).
Exit status: 0 when the risk is below --fail-on (default high), 3 when it is
at or above it, 1 on errors, 2 on usage errors.`,
		Example: `  keel assess upgrade --from 1.0.20261101 --to 1.0.20261201
  keel assess upgrade --from releases/1.0.20261101/images/vm/manifest.json --to releases/1.0.20261201/images/vm/manifest.json
  keel assess upgrade --from azl-3.0.20260401 --to azl-3.0.20260429 -D 'dist .azl3' -D 'azl 3' --json
  keel assess upgrade --from azl-2.0 --to azl-3.0 --from-define 'dist .cm2' --from-define 'mariner 2' --to-define 'dist .azl3' --to-define 'azl 3' 
  keel assess upgrade --from 1.0.20261101 --to 1.0.20261201 --fail-on medium   # CI: exit 3 on medium or high`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usageError{fmt.Errorf("--from and --to are required")}
			}
			if assess.RiskRank(failOn) < 1 {
				return usageError{fmt.Errorf("--fail-on %q: want low, medium or high", failOn)}
			}
			opt := assess.UpgradeOptions{From: resolveSide(releases, from), To: resolveSide(releases, to), Repos: repos,
				Defines: defines, FromDefines: fromDefines, ToDefines: toDefines, Workload: workload, BaseImage: baseImage}
			if date != "" {
				day, err := time.Parse(time.DateOnly, date)
				if err != nil {
					return usageError{fmt.Errorf("--date %q: want YYYY-MM-DD", date)}
				}
				opt.Day = day
			}
			var err error
			if lifecycleFile != "" {
				data, rerr := os.ReadFile(lifecycleFile)
				if rerr != nil {
					return rerr
				}
				if opt.Lifecycle, err = lifecycle.Parse(lifecycleFile, data); err != nil {
					return err
				}
			} else if d, derr := a.distro(); derr == nil {
				if opt.Lifecycle, err = lifecycle.Load(d.Dir); err != nil {
					return err
				}
			}
			r, err := assess.Upgrade(cmd.Context(), opt)
			if err != nil {
				return err
			}
			if a.json {
				if err := emit(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else {
				r.WriteText(cmd.OutOrStdout())
			}
			if assess.RiskRank(r.Risk) >= assess.RiskRank(failOn) {
				return exitError{code: 3, err: fmt.Errorf("upgrade risk %s (--fail-on %s)", r.Risk, failOn)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the release, image manifest or source tree moved from")
	f.StringVar(&to, "to", "", "the release, image manifest or source tree moved to")
	f.StringVar(&releases, "releases", "releases", "the releases directory versions are looked up in")
	f.StringArrayVar(&repos, "repo", nil, "repository directory holding an image manifest's packages (repeatable)")
	f.StringVar(&lifecycleFile, "lifecycle", "", "lifecycle.yaml with the support dates (default: the tree's, else each release's copy)")
	f.StringVar(&date, "date", "", "judge support on this day, YYYY-MM-DD (default today, UTC)")
	f.StringVar(&failOn, "fail-on", assess.RiskHigh, "exit 3 when the risk is at least this: low, medium or high")
	f.StringVar(&workload, "workload", "", "a workload image (OCI layout, docker-archive, directory) checked against both sides: the breaks the upgrade brings")
	f.StringVar(&baseImage, "base-image", "", "with --workload and releases: the container image of each release to check against (default container-core)")
	defineFlag(cmd, &defines)
	f.StringArrayVar(&fromDefines, "from-define", nil, "a macro for the --from source tree only: --from-define 'dist .cm2' (repeatable)")
	f.StringArrayVar(&toDefines, "to-define", nil, "a macro for the --to source tree only (repeatable)")
	return cmd
}

// resolveSide accepts a version under the releases directory or a path.
func resolveSide(releases, arg string) string {
	if _, err := os.Stat(arg); err == nil {
		return arg
	}
	if p := filepath.Join(releases, arg); fileExists(filepath.Join(p, manifest.ManifestFile)) {
		return p
	}
	return arg
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func newAssessBenchCmd(a *app) *cobra.Command {
	var from, to, releases, img, cert string
	var rounds int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bench --from A --to B --image NAME",
		Short: "The same image of two releases side by side: package count, root and disk size, boot time to the status line, as ratios",
		Long: `Measure the same image variant (images/NAME/ of two release directories)
side by side in one run: package count, root size and disk (largest output)
size from the image manifests, and for a bootable image the time from QEMU's
start to keel-init's status line, the two booted in alternating rounds
(--rounds, each round boots both, the first side alternating) so that the
machine's drift falls on both alike. Ratios are B/A. Timing a workload
command inside each root is not built yet.`,
		Example: `  keel assess bench --from 1.0.20261101 --to 1.0.20261201 --image vm --rounds 3
  keel assess bench --from 1.0.20261101 --to 1.0.20261201 --image container-core --rounds 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" || img == "" {
				return usageError{fmt.Errorf("--from, --to and --image are required")}
			}
			r, err := assess.Bench(cmd.Context(), assess.BenchOptions{From: resolveSide(releases, from), To: resolveSide(releases, to),
				Image: img, Rounds: rounds, Cert: cert, Timeout: timeout})
			if err != nil {
				return err
			}
			if a.json {
				return emit(cmd.OutOrStdout(), r)
			}
			r.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the release moved from")
	f.StringVar(&to, "to", "", "the release moved to")
	f.StringVar(&releases, "releases", "releases", "the releases directory versions are looked up in")
	f.StringVar(&img, "image", "", "the image variant of both releases (images/NAME/)")
	f.StringVar(&cert, "enroll-cert", "", "Secure Boot certificate (PEM) enrolled for images with a signed UKI")
	intFlagP(f, &rounds, "rounds", "", 3, 0, 100, "boot rounds (each boots both images); 0 measures sizes only")
	durationFlagP(f, &timeout, "timeout", 150*time.Second, time.Second, time.Hour, "per boot")
	return cmd
}
