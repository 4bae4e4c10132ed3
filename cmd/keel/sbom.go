package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/sbom"
	"github.com/keel-linux/keel/pkg/scan"
)

func init() {
	var outDir, name, ver, ns, distroQ string
	var files bool
	cmd := &cobra.Command{Use: "sbom", Short: "Write SPDX 2.3 and CycloneDX 1.6 SBOMs for a repository or an image root"}
	run := func(kind string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("sbom %s: no input", kind)
			}
			if name == "" {
				name = filepath.Base(filepath.Clean(args[0]))
			}
			res, err := sbom.Generate(c.Context(), sbom.Options{Kind: kind, Inputs: args, Name: name, Version: ver, Created: securityNow(),
				Purl: scan.PurlOptions{Namespace: ns, Distro: distroQ}, Supplier: "Keel Linux", Tool: "keel-" + version, Files: files})
			if err != nil {
				return fmt.Errorf("sbom %s: %w", kind, err)
			}
			if outDir == "" {
				outDir = globals.out
			}
			sp := filepath.Join(outDir, name+".spdx.json")
			cd := filepath.Join(outDir, name+".cdx.json")
			if err := advisory.WriteFileAtomic(sp, res.SPDX); err != nil {
				return err
			}
			if err := advisory.WriteFileAtomic(cd, res.CycloneDX); err != nil {
				return err
			}
			if globals.json {
				return printJSON(map[string]any{"spdx": sp, "cyclonedx": cd, "packages": res.Packages, "files": res.Files})
			}
			fmt.Printf("%d packages, %d files\n%s\n%s\n", res.Packages, res.Files, sp, cd)
			return nil
		}
	}
	cmd.AddCommand(&cobra.Command{Use: "repo DIR|RPM...", Short: "SBOM of RPM files (package digests)", RunE: run("repo")})
	cmd.AddCommand(&cobra.Command{Use: "image ROOT", Short: "SBOM of an image root's rpmdb (file digests)", Args: cobra.ExactArgs(1), RunE: run("image")})
	pf := cmd.PersistentFlags()
	pf.StringVarP(&outDir, "output-dir", "o", "", "directory for <name>.spdx.json and <name>.cdx.json (default --out)")
	pf.StringVar(&name, "name", "", "document name (default: input base name)")
	pf.StringVar(&ver, "version", "1.0", "version of what the SBOM describes")
	pf.StringVar(&ns, "purl-namespace", "keel", "purl namespace")
	pf.StringVar(&distroQ, "purl-distro", "keel-1.0", "purl distro qualifier")
	pf.BoolVar(&files, "files", true, "list files with SHA1/SHA256 digests (image roots)")
	rootCmd.AddCommand(cmd)
}
