package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/release/render"
	"github.com/keel-linux/keel/pkg/srctree"
)

func newReleaseCmd(a *app) *cobra.Command {
	var dir string
	c := group("release", "Cut, diff and promote monthly roll-up releases (<version>.YYYYMMDD)", `A release is an immutable directory releases/<version>.YYYYMMDD/: the signed
repository, images, gates, notes, provenance and a signed manifest. Channels
(preview, stable) are symlinks that promote moves.`,
		newReleaseCutCmd(a, &dir), newReleaseDiffCmd(a, &dir), newReleasePromoteCmd(a, &dir))
	c.PersistentFlags().StringVar(&dir, "releases", "releases", "the releases directory")
	return c
}

func newReleaseCutCmd(a *app, dir *string) *cobra.Command {
	var date, channel, keys string
	var security, allowDirty bool
	cmd := &cobra.Command{
		Use:   "cut",
		Short: "Build, publish, gate, document and sign a release into releases/<version>.YYYYMMDD/",
		Long: `Turn the distribution tree into a signed release in one command: an
incremental build, the signed repository, the images with their boot tests,
the kernel-config, hardening, image-baseline, CVE-SLA and boot gates, notes
from data (notes.json, notes.md, index.html), SLSA provenance for every
package, and a signed manifest of every file. Nothing under releases/ changes
unless the whole cut succeeds. Re-running on unchanged inputs is a no-op.
Exit status 4 when a gate fails.`,
		Example: `  keel release cut
  keel release cut --date 2026-12-01 --channel stable
  keel release cut --security          # out-of-band fix on top of the last release`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.distro()
			if err != nil {
				return err
			}
			kd := distro.KeysAt(keys)
			k, err := kd.Signing()
			if err != nil {
				return err
			}
			sbKey, sbCert := kd.SecureBoot()
			var day time.Time
			if date != "" {
				if day, err = time.Parse("2006-01-02", date); err != nil {
					return usageError{fmt.Errorf("--date %q: want YYYY-MM-DD", date)}
				}
			}
			out := cmd.OutOrStdout()
			res, err := release.Cut(cmd.Context(), release.Options{
				Distro: d, Cache: a.cacheDir(), Dir: *dir, Date: day, Channel: channel, Security: security,
				Key: k, SecureBootKey: sbKey, SecureBootCert: sbCert, AllowDirty: allowDirty, KeelVersion: version,
			})
			if err != nil {
				var ge *release.GateError
				if errors.As(err, &ge) {
					return exitError{code: 4, err: err}
				}
				return err
			}
			if a.json {
				return emit(out, map[string]any{"version": res.Manifest.Version, "dir": res.Dir, "noop": res.NoOp})
			}
			if res.NoOp {
				a.sayf(out, "release %s is up to date: %s\n", res.Manifest.Version, res.Dir)
			} else {
				a.sayf(out, "release %s: %s (notes: %s)\n", res.Manifest.Version, res.Dir, filepath.Join(res.Dir, manifest.NotesMD))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&date, "date", "", "release date YYYY-MM-DD (default: today, UTC)")
	f.StringVar(&channel, "channel", "preview", "preview or stable")
	f.BoolVar(&security, "security", false, "out-of-band security release on top of the last release")
	f.BoolVar(&allowDirty, "allow-dirty", false, "allow uncommitted changes in a git tree")
	keysFlag(cmd, &keys, "whose keys sign the release")
	return cmd
}

func newReleaseDiffCmd(a *app, dir *string) *cobra.Command {
	var defines []string
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "What changed between two releases or source trees: packages (old → new EVR), kernels and their config options, gates",
		Long: `A and B are each a release (a version under --releases, or a release
directory) or a distribution source tree (a directory with keel.yaml, built
incrementally through the cache to know its packages).

Another distribution's tree (SPECS*/*/*.spec and no keel.yaml, such as a
checkout of microsoft/azurelinux) cannot be built here: it is compared from
its specs alone (its own *-rpm-macros loaded, %(...) never run): per source
package old → new EVR, binary packages added and removed, CVE patches
(Patch: CVE-*.patch, CVE-*.nopatch files, %changelog mentions) added and
dropped, and option changes of the kernel config files in the tree
(SPECS*/kernel*/config*). A spec that does not parse or uses macros nobody
defined is reported by name; the rest of the tree is still compared.`,
		Example: "  keel release diff 1.0.20261101 1.0.20261201\n  keel release diff 1.0.20261201 distro\n" +
			"  keel release diff azl-3.0.20260401 azl-3.0.20260429 --define 'dist .azl3'",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if release.IsSourceOnly(args[0]) || release.IsSourceOnly(args[1]) {
				d, err := release.DiffSourceTrees(cmd.Context(), args[0], args[1], srctree.Options{Defines: defines})
				if err != nil {
					return err
				}
				if a.json {
					return emit(cmd.OutOrStdout(), d)
				}
				d.WriteText(cmd.OutOrStdout())
				return nil
			}
			side := func(arg string) (*manifest.Manifest, string, func(), error) {
				if _, err := os.Stat(filepath.Join(arg, "keel.yaml")); err == nil {
					d, err := distro.Load(arg)
					if err != nil {
						return nil, "", nil, err
					}
					m, tmp, err := release.Snapshot(cmd.Context(), d, a.cacheDir())
					return m, tmp, func() { os.RemoveAll(tmp) }, err
				}
				p := releasePath(*dir, arg)
				m, err := manifest.ReadManifest(p)
				return m, p, func() {}, err
			}
			ma, da, ca, err := side(args[0])
			if err != nil {
				return err
			}
			defer ca()
			mb, db, cb, err := side(args[1])
			if err != nil {
				return err
			}
			defer cb()
			n := release.DiffManifests(da, ma, db, mb)
			if a.json {
				return emit(cmd.OutOrStdout(), n)
			}
			fmt.Fprint(cmd.OutOrStdout(), render.Markdown(n))
			return nil
		},
	}
	defineFlag(cmd, &defines)
	return cmd
}

func newReleasePromoteCmd(a *app, dir *string) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:     "promote VERSION",
		Short:   "Point a channel (default stable) at an existing release, without rebuilding",
		Long:    "Point the channel symlink under --releases at VERSION, atomically. The release itself is not touched.",
		Example: "  keel release promote 1.0.20261201\n  keel release promote 1.0.20261201 --to preview",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := release.Promote(*dir, args[0], to); err != nil {
				return err
			}
			if a.json {
				return emit(cmd.OutOrStdout(), map[string]string{"channel": to, "release": args[0]})
			}
			a.sayf(cmd.OutOrStdout(), "%s -> %s\n", to, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "stable", "channel to point at the release")
	return cmd
}

func newVerifyCmd(a *app) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "verify RELEASE_DIR",
		Short: "Check a downloaded release end to end: signatures, digests, provenance, repository",
		Long: `Check a release directory against a trusted public key: the signed
manifest, every file's digest, each package's SLSA provenance and signature,
and the repository metadata. Exit status 3 when anything is wrong.`,
		Example: "  keel verify releases/1.0.20261201 --key " + pgp.PublicFile,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				keyFile = distro.KeysAt("").PublicKey()
			}
			kr, err := pgp.LoadKeyring(keyFile)
			if err != nil {
				return fmt.Errorf("trusted key: %w (pass --key FILE, the public key obtained out of band)", err)
			}
			rep, err := release.Verify(cmd.Context(), args[0], kr)
			if err != nil {
				return err
			}
			if a.json {
				emit(cmd.OutOrStdout(), rep)
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(cmd.OutOrStdout(), "PROBLEM", p)
				}
				a.sayf(cmd.OutOrStdout(), "%s: %d artifacts checked, %d problems\n", args[0], rep.Checked, len(rep.Problems))
			}
			if len(rep.Problems) > 0 {
				return exitError{code: 3, err: fmt.Errorf("release %s failed verification", args[0])}
			}
			return nil
		},
	}
	trustedKeyFlag(cmd, &keyFile)
	return cmd
}

// releasePath accepts a version (looked up under the releases directory) or a path.
func releasePath(dir, arg string) string {
	if _, err := os.Stat(filepath.Join(arg, manifest.ManifestFile)); err == nil {
		return arg
	}
	return filepath.Join(dir, arg)
}
