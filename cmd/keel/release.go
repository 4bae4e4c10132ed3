package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release"
	"github.com/keel-linux/keel/pkg/uki"
)

func init() {
	rel := &cobra.Command{Use: "release", Short: "Cut, diff and promote monthly roll-up releases (<version>.YYYYMMDD)"}
	var dir string
	rel.PersistentFlags().StringVar(&dir, "releases", "releases", "the releases directory")

	var date, channel, keys string
	var security, allowDirty bool
	cut := &cobra.Command{
		Use:   "cut",
		Short: "Build, publish, gate, document and sign a release into releases/<version>.YYYYMMDD/",
		Long: `Turn the distribution tree into a signed release in one command: an
incremental build, the signed repository, kernel-config and hardening gates
(image, CVE-SLA and boot gates once those stages exist), notes from data
(notes.json, notes.md, index.html), SLSA provenance for every package, and a
signed manifest of every file. Nothing under releases/ changes unless the
whole cut succeeds. Re-running on unchanged inputs is a no-op.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := loadDistro()
			if err != nil {
				return err
			}
			k, err := loadKey(keys)
			if err != nil {
				return err
			}
			keyDir := keys
			if keyDir == "" {
				keyDir = pgp.DefaultDir()
			}
			var sbKey, sbCert string
			if _, err := os.Stat(filepath.Join(keyDir, uki.SigningKeyFile)); err == nil {
				sbKey, sbCert = filepath.Join(keyDir, uki.SigningKeyFile), filepath.Join(keyDir, uki.SigningCertFile)
			}
			var day time.Time
			if date != "" {
				if day, err = time.Parse("2006-01-02", date); err != nil {
					return fmt.Errorf("--date %q: want YYYY-MM-DD", date)
				}
			}
			out := cmd.OutOrStdout()
			res, err := release.Cut(cmd.Context(), release.Options{
				Distro: d, Cache: cacheDir(), Dir: dir, Date: day, Channel: channel, Security: security,
				Key: k, SecureBootKey: sbKey, SecureBootCert: sbCert, AllowDirty: allowDirty, KeelVersion: version,
			})
			if err != nil {
				var ge *release.GateError
				if errors.As(err, &ge) {
					return exitError{code: 4, err: err}
				}
				return err
			}
			if !globals.json {
				if res.NoOp {
					fmt.Fprintf(out, "release %s is up to date: %s\n", res.Manifest.Version, res.Dir)
				} else {
					fmt.Fprintf(out, "release %s: %s (notes: %s)\n", res.Manifest.Version, res.Dir, filepath.Join(res.Dir, release.NotesMD))
				}
			}
			return nil
		},
	}
	f := cut.Flags()
	f.StringVar(&date, "date", "", "release date YYYY-MM-DD (default: today, UTC)")
	f.StringVar(&channel, "channel", "preview", "preview or stable")
	f.BoolVar(&security, "security", false, "out-of-band security release on top of the last release")
	f.BoolVar(&allowDirty, "allow-dirty", false, "allow uncommitted changes in a git tree")
	f.StringVar(&keys, "keys", "", "signing key directory (default $KEEL_KEYS or ~/.local/share/keel/keys)")

	diff := &cobra.Command{
		Use:   "diff A B",
		Short: "What changed between two releases or source trees: packages (old → new EVR), kernels and their config options, gates",
		Long: `A and B are each a release (a version under --releases, or a release
directory) or a distribution source tree (a directory with keel.yaml, built
incrementally through the cache to know its packages).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			side := func(arg string) (*release.Manifest, string, func(), error) {
				if _, err := os.Stat(filepath.Join(arg, "keel.yaml")); err == nil {
					d, err := distro.Load(arg)
					if err != nil {
						return nil, "", nil, err
					}
					m, tmp, err := release.Snapshot(cmd.Context(), d, cacheDir())
					return m, tmp, func() { os.RemoveAll(tmp) }, err
				}
				p := releasePath(dir, arg)
				m, err := release.ReadManifest(p)
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
			if globals.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(n)
			}
			fmt.Fprint(cmd.OutOrStdout(), n.Markdown())
			return nil
		},
	}
	var to string
	promote := &cobra.Command{
		Use:   "promote VERSION",
		Short: "Point a channel (default stable) at an existing release, without rebuilding",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := release.Promote(dir, args[0], to); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s\n", to, args[0])
			return nil
		},
	}
	promote.Flags().StringVar(&to, "to", "stable", "channel to point at the release")
	rel.AddCommand(cut, diff, promote)
	rootCmd.AddCommand(rel)

	var keyFile string
	verify := &cobra.Command{
		Use:   "verify RELEASE_DIR",
		Short: "Check a downloaded release end to end: signatures, digests, provenance, repository",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				keyFile = filepath.Join(pgp.DefaultDir(), pgp.PublicFile)
			}
			kr, err := pgp.LoadKeyring(keyFile)
			if err != nil {
				return fmt.Errorf("trusted key: %w (pass --key RPM-GPG-KEY-keel obtained out of band)", err)
			}
			rep, err := release.Verify(cmd.Context(), args[0], kr)
			if err != nil {
				return err
			}
			if globals.json {
				json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(cmd.OutOrStdout(), "PROBLEM", p)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d artifacts checked, %d problems\n", args[0], rep.Checked, len(rep.Problems))
			}
			if len(rep.Problems) > 0 {
				return exitError{code: 3, err: fmt.Errorf("release %s failed verification", args[0])}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&keyFile, "key", "", "trusted public key (default: the local key directory's RPM-GPG-KEY-keel)")
	rootCmd.AddCommand(verify)
}

// releasePath accepts a version (looked up under the releases directory) or a path.
func releasePath(dir, arg string) string {
	if _, err := os.Stat(filepath.Join(arg, release.ManifestFile)); err == nil {
		return arg
	}
	return filepath.Join(dir, arg)
}

func loadKey(dir string) (*pgp.Key, error) {
	if dir == "" {
		dir = pgp.DefaultDir()
	}
	k, err := pgp.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("signing key in %s: %w (run `keel keys init`)", dir, err)
	}
	return k, nil
}
