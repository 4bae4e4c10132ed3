package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/repo/remote"
)

// imageDefinition reads PATH, or finds NAME in the tree's images/.
func (a *app) imageDefinition(arg string) (*image.Definition, error) {
	if strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") {
		return image.Load("", arg)
	}
	d, err := a.distro()
	if err != nil {
		return nil, err
	}
	return image.Load(d.ImagesDir(), arg)
}

func newImageCmd(a *app) *cobra.Command {
	return group("image", "Compose container images and bootable disks from the repository", `Image definitions live in the tree's images/ (keel image list): each
resolves packages from rpm-md repositories, installs them into a fresh root
and writes its outputs (OCI layout, raw/qcow2/vhd disks with a UKI, optional
dm-verity root) and a manifest.json.`, newImageBuildCmd(a), newImageListCmd(a))
}

func newImageBuildCmd(a *app) *cobra.Command {
	var repos []string
	var rootOnly bool
	var keys, sbKey, sbCert string
	var trust []string
	var allowUnsigned, locked bool
	var lockFile string
	cmd := &cobra.Command{
		Use:   "build NAME|PATH",
		Short: "Resolve, install into a fresh root and write the image's outputs and manifest.json",
		Long: `Build the image definition NAME (from the tree's images/) or PATH into
<out>/images/NAME/. Bootable images sign their dm-verity root hash with the
key in --keys and their UKI with the Secure Boot pair beside it (or
--secureboot-key/--secureboot-cert). SOURCE_DATE_EPOCH, when set, stamps
every file; without it, the newest package build time does.

Before anything is extracted, repomd.xml's signature and every package's
header signature are checked against the trusted keys: --trust, the
definition's trusted_keys, else the key directory's (RPM-GPG-KEY-keel and
trusted/*). The repository's own RPM-GPG-KEY-* is never trusted.
--allow-unsigned checks nothing, loudly, and manifest.json records it.

--repo takes directories and file://, http:// and https:// URLs (commas
separate mirrors of one repository). repomd.xml is fetched every run; the
metadata and packages it names are downloaded into the cache by checksum
(parallel, resumed, retried), and manifest.json records each one's origin.
A redirect to another host is refused.

Every build writes <out>/images/NAME.lock (or --lock FILE): each resolved
package's NEVRA, sha256 and repository. --locked composes exactly that set
again, whatever the repositories gained since, or fails naming what moved.`,
		Example: `  keel image build container
  keel image build vm --repo out/repo --keys /srv/keel/keys
  keel image build container-core --repo http://127.0.0.1:8080 --trust RPM-GPG-KEY-keel
  keel image build container-core --lock distro/images/container-core.lock --locked`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			def, err := a.imageDefinition(args[0])
			if err != nil {
				return err
			}
			sde, err := distro.Epoch()
			if err != nil {
				return err
			}
			if len(repos) == 0 {
				repos = []string{a.repoDir("")}
			}
			opt := image.Options{Definition: def, Repos: repos, Out: filepath.Join(a.out, "images"), SourceDateEpoch: sde, RootOnly: rootOnly,
				SecureBootKey: sbKey, SecureBootCert: sbCert,
				TrustedKeys: trust, AllowUnsigned: allowUnsigned, KeyStore: distro.KeysAt(keys).Dir,
				Cache: &remote.Cache{Dir: remote.CacheDir(a.cacheDir())}}
			// keel.yaml's trusted_keys count as given, as --trust does.
			dist, err := a.distro()
			if err != nil {
				return err
			}
			opt.TrustedKeys = append(opt.TrustedKeys, dist.TrustedKeys()...)
			if def.Kind == "bootable" {
				// The distro key signs verity root hashes; only images with
				// a verity root need it, and the build says so.
				kd := distro.KeysAt(keys)
				k, err := kd.Signing()
				if err != nil && keys != "" {
					return fmt.Errorf("image build: %w", err)
				}
				opt.Key = k
				// The Secure Boot pair `keel keys init` keeps beside it, unless given.
				if sbKey == "" && sbCert == "" {
					opt.SecureBootKey, opt.SecureBootCert = kd.SecureBoot()
				}
			}
			opt.LockFile = lockFile
			if opt.LockFile == "" {
				opt.LockFile = filepath.Join(opt.Out, def.Name+".lock")
			}
			if locked {
				if opt.Locked, err = image.ReadLock(opt.LockFile); err != nil {
					return fmt.Errorf("image build: %w", err)
				}
				opt.LockFile = ""
			}
			res, err := image.Build(cmd.Context(), opt)
			if err != nil {
				return fmt.Errorf("image build: %w", err)
			}
			if a.json {
				return emit(cmd.OutOrStdout(), res.Manifest)
			}
			a.sayf(cmd.OutOrStdout(), "%s: %d packages, %d files, %d bytes\n", def.Name, len(res.Manifest.Packages), res.Manifest.Files, res.Manifest.Size)
			for _, o := range res.Manifest.Outputs {
				id := o.Digest
				if id == "" {
					id = "sha256:" + o.SHA256
				}
				a.sayf(cmd.OutOrStdout(), "  %-15s %s %s\n", o.Format, filepath.Join(res.Dir, o.Path), id)
			}
			a.sayf(cmd.OutOrStdout(), "  %-15s %s\n", "manifest", filepath.Join(res.Dir, "manifest.json"))
			if opt.LockFile != "" {
				a.sayf(cmd.OutOrStdout(), "  %-15s %s\n", "lock", opt.LockFile)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&rootOnly, "rootfs", false, "stop after composing the root filesystem (<out>/images/NAME/rootfs)")
	f.StringArrayVar(&repos, "repo", nil, "rpm-md repository: directory, file://, http:// or https:// URL; commas separate mirrors of one repository (repeatable; default <out>/repo)")
	keysFlag(cmd, &keys, "whose public keys are trusted by default and whose key signs verity root hashes")
	f.StringArrayVar(&trust, "trust", nil, "public key file, or fingerprint of a key in the key directory, the repository and every package must be signed with (repeatable)")
	f.StringVar(&lockFile, "lock", "", "lock file written (or, with --locked, read) (default <out>/images/NAME.lock)")
	f.BoolVar(&locked, "locked", false, "compose exactly the packages the lock file lists; fail naming any that moved")
	f.BoolVar(&allowUnsigned, "allow-unsigned", false, "compose WITHOUT checking repository and package signatures (dnf's gpgcheck=0); recorded in manifest.json")
	f.StringVar(&sbKey, "secureboot-key", "", "PEM private key that signs the UKI for Secure Boot (default: secureboot.key in the key directory, if present)")
	f.StringVar(&sbCert, "secureboot-cert", "", "PEM X.509 certificate for --secureboot-key")
	return cmd
}

func newImageListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the image definitions",
		Long:    "List the tree's image definitions (images/*.yaml): name, kind, output formats and description.",
		Example: "  keel image list\n  keel image list --json | jq -r .name",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dist, err := a.distro()
			if err != nil {
				return err
			}
			defs, err := image.List(dist.ImagesDir())
			if err != nil {
				return err
			}
			for _, d := range defs {
				if a.json {
					if err := emit(cmd.OutOrStdout(), d); err != nil {
						return err
					}
					continue
				}
				var formats []string
				for _, o := range d.Outputs {
					formats = append(formats, o.Format)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-16s %-10s %-28s %s\n", d.Name, d.Kind, strings.Join(formats, ","), d.Description)
			}
			return nil
		},
	}
}
