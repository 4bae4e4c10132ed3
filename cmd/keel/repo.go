package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
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

func newRepoCmd(a *app) *cobra.Command {
	var dir string
	c := group("repo", "Publish, verify and serve the signed package repository", `An rpm-md repository that dnf reads: signed packages, repomd.xml signed
by the distribution key, a .repo file and the public key beside them. The
repository directory is --repo (default <out>/repo). SOURCE_DATE_EPOCH, when
set, stamps the metadata.`,
		newRepoPublishCmd(a, &dir), newRepoIndexCmd(a, &dir), newRepoVerifyCmd(a, &dir), newRepoServeCmd(a, &dir))
	c.PersistentFlags().StringVar(&dir, "repo", "", "repository directory (default <out>/repo)")
	deprecatedAlias(c, c.PersistentFlags(), "dir", "", "repo")
	return c
}

// repoDir is --repo, else <out>/repo.
func (a *app) repoDir(dir string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(a.out, "repo")
}

func newRepoPublishCmd(a *app, dir *string) *cobra.Command {
	var keys, comp, baseURL string
	cmd := &cobra.Command{
		Use:   "publish [RPM|DIR...]",
		Short: "Sign packages and add them to the repository (atomic, incremental)",
		Long: `Sign the given packages (directories: every binary .rpm under them) with the
distribution key and add them to the repository. Readers see the old or the
new repository, never a mix; packages already there with the same content
are unchanged.`,
		Example: `  keel repo publish out/rpms
  keel repo publish --repo /srv/repo --base-url https://example.org/repo x.rpm`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rpms, err := expandRPMs(args)
			if err != nil {
				return fmt.Errorf("repo publish: %w", err)
			}
			k, err := distro.KeysAt(keys).Signing()
			if err != nil {
				return fmt.Errorf("repo publish: %w", err)
			}
			sde, err := distro.Epoch()
			if err != nil {
				return err
			}
			opt := repo.Options{Dir: a.repoDir(*dir), Packages: rpms, Key: k,
				SourceDateEpoch: sde, Compression: repodata.Compression(comp), BaseURL: baseURL}
			if d, err := a.distro(); err == nil { // client files are named after the distribution
				opt.Name, opt.Title = d.Config.Name, d.Publisher().Name
			}
			res, err := repo.Publish(cmd.Context(), opt)
			if err != nil {
				return err
			}
			if a.json {
				return emit(cmd.OutOrStdout(), res)
			}
			a.sayf(cmd.OutOrStdout(), "%d added, %d unchanged, %d packages in %s (generation %s)\n",
				len(res.Added), len(res.Unchanged), res.Packages, a.repoDir(*dir), res.Generation)
			return nil
		},
	}
	keysFlag(cmd, &keys, "whose key signs")
	compressionFlag(cmd, &comp)
	cmd.Flags().StringVar(&baseURL, "base-url", "", "baseurl for the generated .repo file (default file://DIR)")
	return cmd
}

func compressionFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "compression", "zstd", "metadata compression: zstd, gzip or none")
}

func newRepoIndexCmd(a *app, dir *string) *cobra.Command {
	var keys, comp string
	var unsigned bool
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Regenerate the metadata of a directory of packages in place (createrepo_c --update)",
		Long: `Index the .rpm files under --repo as they are (packages are not re-signed):
unchanged files keep their metadata, new or changed ones are read. repomd.xml
is signed with the key from --keys unless --unsigned. Use publish to sign
packages on the way in.`,
		Example: `  keel repo index --repo /srv/repo
  keel repo index --repo /srv/repo --unsigned --compression gzip`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var k *pgp.Key
			if !unsigned {
				var err error
				if k, err = distro.KeysAt(keys).Signing(); err != nil {
					return fmt.Errorf("repo index: %w (or pass --unsigned)", err)
				}
			}
			sde, err := distro.Epoch()
			if err != nil {
				return err
			}
			res, err := repo.Index(cmd.Context(), repo.IndexOptions{Dir: a.repoDir(*dir), Key: k, SourceDateEpoch: sde,
				Compression: repodata.Compression(comp)})
			if err != nil {
				return err
			}
			if a.json {
				return emit(cmd.OutOrStdout(), res)
			}
			a.sayf(cmd.OutOrStdout(), "%d read, %d re-used, %d packages (generation %s)\n",
				len(res.Added), res.Reused, res.Packages, res.Generation)
			return nil
		},
	}
	keysFlag(cmd, &keys, "whose key signs repomd.xml")
	compressionFlag(cmd, &comp)
	cmd.Flags().BoolVar(&unsigned, "unsigned", false, "do not sign repomd.xml")
	return cmd
}

// trustedKeyFlag defines --key FILE: the public key a verification trusts.
func trustedKeyFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "key", "", "trusted public key file, obtained out of band (default: "+pgp.PublicFile+" in the key directory)")
}

func newRepoVerifyCmd(a *app, dir *string) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:     "verify",
		Short:   "Check signatures and checksums of the whole repository",
		Long:    "Check repomd.xml's signature against the trusted key, every metadata checksum, and every package's signature and digest.",
		Example: "  keel repo verify --repo /srv/repo --key " + pgp.PublicFile,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				keyFile = distro.KeysAt("").PublicKey()
			}
			kr, err := pgp.LoadKeyring(keyFile)
			if err != nil {
				return fmt.Errorf("repo verify: trusted key: %w", err)
			}
			rep, err := repo.Verify(cmd.Context(), repo.VerifyOptions{Dir: a.repoDir(*dir), Keyring: kr})
			if rep != nil {
				if a.json {
					emit(cmd.OutOrStdout(), rep)
				} else {
					for _, p := range rep.Problems {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", p.Path, p.What)
					}
					if err == nil {
						a.sayf(cmd.OutOrStdout(), "ok: %d packages, repomd.xml signed by %s\n", rep.Packages, rep.Signer)
					}
				}
			}
			return err
		},
	}
	trustedKeyFlag(cmd, &keyFile)
	return cmd
}

func newRepoServeCmd(a *app, dir *string) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Serve the repository over HTTP (127.0.0.1 by default)",
		Long:    "Serve a repository (or a releases directory) over HTTP with Range and conditional GET, until interrupted.",
		Example: "  keel repo serve --repo releases --addr 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := a.repoDir(*dir)
			return repo.Serve(cmd.Context(), repo.ServeOptions{Dir: d, Addr: addr, Ready: func(addr string) {
				if a.json {
					emit(cmd.OutOrStdout(), map[string]string{"listening": "http://" + addr + "/"})
				} else {
					a.sayf(cmd.OutOrStdout(), "serving %s on http://%s/\n", d, addr)
				}
			}})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	return cmd
}
