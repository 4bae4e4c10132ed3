package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/repodata"
)

// expandRPMs turns directory arguments into the binary .rpm files under them.
func expandRPMs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".rpm") && !strings.HasSuffix(p, ".src.rpm") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", a, err)
		}
	}
	return out, nil
}

func init() {
	repoCmd := &cobra.Command{Use: "repo", Short: "Publish, verify and serve the signed package repository"}
	var dir, keys, comp, baseURL string
	publish := &cobra.Command{
		Use:   "publish [RPM|DIR...]",
		Short: "Sign packages and add them to the repository (atomic, incremental)",
		RunE: func(cmd *cobra.Command, args []string) error {
			rpms, err := expandRPMs(args)
			if err != nil {
				return fmt.Errorf("repo publish: %w", err)
			}
			if keys == "" {
				keys = pgp.DefaultDir()
			}
			k, err := pgp.LoadDir(keys)
			if err != nil {
				return fmt.Errorf("repo publish: loading the signing key (run keel keys init): %w", err)
			}
			sde, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			res, err := repo.Publish(cmd.Context(), repo.Options{Dir: repoDir(dir), Packages: rpms, Key: k,
				SourceDateEpoch: sde, Compression: repodata.Compression(comp), BaseURL: baseURL})
			if err != nil {
				return err
			}
			if globals.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d added, %d unchanged, %d packages in %s (generation %s)\n",
				len(res.Added), len(res.Unchanged), res.Packages, repoDir(dir), res.Generation)
			return nil
		},
	}
	publish.Flags().StringVar(&keys, "keys", "", "key directory (default $KEEL_KEYS or ~/.local/share/keel/keys)")
	publish.Flags().StringVar(&comp, "compression", "zstd", "metadata compression: zstd, gzip or none")
	publish.Flags().StringVar(&baseURL, "base-url", "", "baseurl for the generated keel.repo (default file://DIR)")

	var unsigned bool
	index := &cobra.Command{
		Use:         "index",
		Annotations: map[string]string{signalsDefault: "atomic: kill -9 leaves the old or the new repository"},
		Short:       "Regenerate the metadata of a directory of packages in place (createrepo_c --update)",
		Long: `Index the .rpm files under --dir as they are (packages are not re-signed):
unchanged files keep their metadata, new or changed ones are read. repomd.xml
is signed with the key from --keys unless --unsigned. Use publish to sign
packages on the way in.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var k *pgp.Key
			if !unsigned {
				if keys == "" {
					keys = pgp.DefaultDir()
				}
				var err error
				if k, err = pgp.LoadDir(keys); err != nil {
					return fmt.Errorf("repo index: loading the signing key (or pass --unsigned): %w", err)
				}
			}
			sde, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			res, err := repo.Index(cmd.Context(), repo.IndexOptions{Dir: repoDir(dir), Key: k, SourceDateEpoch: sde,
				Compression: repodata.Compression(comp)})
			if err != nil {
				return err
			}
			if globals.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d read, %d re-used, %d packages (generation %s)\n",
				len(res.Added), res.Reused, res.Packages, res.Generation)
			return nil
		},
	}
	index.Flags().StringVar(&keys, "keys", "", "key directory (default $KEEL_KEYS or ~/.local/share/keel/keys)")
	index.Flags().StringVar(&comp, "compression", "zstd", "metadata compression: zstd, gzip or none")
	index.Flags().BoolVar(&unsigned, "unsigned", false, "do not sign repomd.xml")

	var keyFile string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check signatures and checksums of the whole repository",
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				keyFile = filepath.Join(pgp.DefaultDir(), pgp.PublicFile)
			}
			kr, err := pgp.LoadKeyring(keyFile)
			if err != nil {
				return fmt.Errorf("repo verify: trusted key: %w", err)
			}
			rep, err := repo.Verify(cmd.Context(), repo.VerifyOptions{Dir: repoDir(dir), Keyring: kr})
			if rep != nil {
				if globals.json {
					json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
				} else {
					for _, p := range rep.Problems {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", p.Path, p.What)
					}
					if err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "ok: %d packages, repomd.xml signed by %s\n", rep.Packages, rep.Signer)
					}
				}
			}
			return err
		},
	}
	verify.Flags().StringVar(&keyFile, "key", "", "trusted public key file (default: the key directory's RPM-GPG-KEY-keel)")

	var addr string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the repository over HTTP (127.0.0.1 by default)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return repo.Serve(cmd.Context(), repo.ServeOptions{Dir: repoDir(dir), Addr: addr, Ready: func(a string) {
				if globals.json {
					json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"listening": "http://" + a + "/"})
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "serving %s on http://%s/\n", repoDir(dir), a)
				}
			}})
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")

	repoCmd.PersistentFlags().StringVar(&dir, "dir", "", "repository directory (default <out>/repo)")
	repoCmd.AddCommand(publish, index, verify, serve)
	rootCmd.AddCommand(repoCmd)
}

func repoDir(dir string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(globals.out, "repo")
}
