package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	keeldistro "github.com/keel-linux/keel/distro"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/uki"
)

// imageDefinition finds NAME in <distro>/images (./distro if present, else
// the embedded tree) or reads PATH.
func imageDefinition(arg string) (*image.Definition, error) {
	if strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") {
		return image.Load("", arg)
	}
	if dir := imagesDir(); dir != "" {
		return image.Load(dir, arg)
	}
	p := "images/" + arg + ".yaml"
	data, err := fs.ReadFile(keeldistro.FS, p)
	if err != nil {
		return nil, fmt.Errorf("image %s: no such definition (keel image list shows them)", arg)
	}
	return image.Parse("(embedded) distro/"+p, data)
}

func imagesDir() string {
	d := globals.distro
	if d == "" {
		if fi, err := os.Stat("distro/images"); err == nil && fi.IsDir() {
			return "distro/images"
		}
		return ""
	}
	return filepath.Join(d, "images")
}

func init() {
	imageCmd := &cobra.Command{Use: "image", Short: "Compose images (containers now, bootable disks next) from the repository"}
	var repos []string
	var rootOnly bool
	var keys, sbKey, sbCert string
	build := &cobra.Command{
		Use:   "build NAME|PATH",
		Short: "Resolve, install into a fresh root and write the image's outputs and manifest.json",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			def, err := imageDefinition(args[0])
			if err != nil {
				return err
			}
			sde, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			if len(repos) == 0 {
				repos = []string{filepath.Join(globals.out, "repo")}
			}
			opt := image.Options{Definition: def, Repos: repos, Out: filepath.Join(globals.out, "images"), SourceDateEpoch: sde, RootOnly: rootOnly,
				SecureBootKey: sbKey, SecureBootCert: sbCert}
			if def.Kind == "bootable" {
				// The distro key signs verity root hashes; only images with
				// a verity root need it, and the build says so.
				dir := keys
				if dir == "" {
					dir = pgp.DefaultDir()
				}
				k, err := pgp.LoadDir(dir)
				if err != nil && keys != "" {
					return fmt.Errorf("image build: loading the signing key: %w", err)
				}
				opt.Key = k
				// The Secure Boot pair `keel keys init` keeps beside it, unless given.
				if sbKey == "" && sbCert == "" {
					if _, err := os.Stat(filepath.Join(dir, uki.SigningKeyFile)); err == nil {
						opt.SecureBootKey, opt.SecureBootCert = filepath.Join(dir, uki.SigningKeyFile), filepath.Join(dir, uki.SigningCertFile)
					}
				}
			}
			res, err := image.Build(cmd.Context(), opt)
			if err != nil {
				return fmt.Errorf("image build: %w", err)
			}
			if globals.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res.Manifest)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d packages, %d files, %d bytes\n", def.Name, len(res.Manifest.Packages), res.Manifest.Files, res.Manifest.Size)
			for _, o := range res.Manifest.Outputs {
				id := o.Digest
				if id == "" {
					id = "sha256:" + o.SHA256
				}
				fmt.Fprintf(cmd.OutOrStdout(), "  %-15s %s %s\n", o.Format, filepath.Join(res.Dir, o.Path), id)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "  %-15s %s\n", "manifest", filepath.Join(res.Dir, "manifest.json"))
			return nil
		},
	}
	build.Flags().BoolVar(&rootOnly, "rootfs", false, "stop after composing the root filesystem (<out>/images/NAME/rootfs)")
	build.Flags().Var(newListFlag(&repos, false), "repo", "repository directory (repeatable; default <out>/repo)")
	build.Flags().StringVar(&keys, "keys", "", "key directory whose distro key signs verity root hashes (default $KEEL_KEYS or ~/.local/share/keel/keys)")
	build.Flags().StringVar(&sbKey, "secureboot-key", "", "PEM private key that signs the UKI for Secure Boot (default: secureboot.key in the key directory, if present)")
	build.Flags().StringVar(&sbCert, "secureboot-cert", "", "PEM X.509 certificate for --secureboot-key")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the image definitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var defs []*image.Definition
			if dir := imagesDir(); dir != "" {
				d, err := image.List(dir)
				if err != nil {
					return err
				}
				defs = d
			} else {
				names, _ := fs.Glob(keeldistro.FS, "images/*.yaml")
				sort.Strings(names)
				for _, n := range names {
					d, err := imageDefinition(strings.TrimSuffix(filepath.Base(n), ".yaml"))
					if err != nil {
						return err
					}
					defs = append(defs, d)
				}
			}
			for _, d := range defs {
				if globals.json {
					if err := json.NewEncoder(cmd.OutOrStdout()).Encode(d); err != nil {
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
	imageCmd.AddCommand(build, list)
	rootCmd.AddCommand(imageCmd)
}
