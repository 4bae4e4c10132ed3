package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/sbom"
)

func newSBOMCmd(a *app) *cobra.Command {
	var o sbomFlags
	c := group("sbom", "Write SPDX 2.3 and CycloneDX 1.6 SBOMs for a repository or an image root", `Write <out>/<name>.spdx.json and <out>/<name>.cdx.json, both from one
reading of the packages. The supplier and purl qualifiers come from
keel.yaml; SOURCE_DATE_EPOCH, when set, is the documents' creation time.`,
		&cobra.Command{Use: "repo DIR|RPM...", Short: "SBOM of RPM files (package digests)",
			Long:    "SBOM of the given RPM files (directories: every binary .rpm under them), with each package's digest.",
			Example: "  keel sbom repo out/repo --name keel-repo",
			Args:    cobra.MinimumNArgs(1), RunE: o.run(a, "repo")},
		&cobra.Command{Use: "image ROOT", Short: "SBOM of an image root's rpmdb (file digests)",
			Long:    "SBOM of the packages in an image root's rpm database, with every file's SHA1 and SHA256 unless --files=false.",
			Example: "  keel sbom image out/images/container/rootfs --name container",
			Args:    cobra.ExactArgs(1), RunE: o.run(a, "image")})
	pf := c.PersistentFlags()
	pf.StringVar(&o.name, "name", "", "document name (default: input base name)")
	pf.StringVar(&o.version, "doc-version", "1.0", "version of what the SBOM describes")
	pf.StringVar(&o.ns, "purl-namespace", "", "purl namespace (default: keel.yaml's name)")
	pf.StringVar(&o.distro, "purl-distro", "", "purl distro qualifier (default: <name>-<version> from keel.yaml)")
	pf.BoolVar(&o.files, "files", true, "list files with SHA1/SHA256 digests (image roots)")
	// Old spellings, one release: -o/--output-dir is the global --out now,
	// and --version is keel's own.
	var outDir string
	pf.StringVarP(&outDir, "output-dir", "o", "", "directory for the documents")
	deprecate(c, pf, "output-dir", "--out")
	o.outDir = &outDir
	deprecatedAlias(c, pf, "version", "", "doc-version")
	return c
}

type sbomFlags struct {
	name, version, ns, distro string
	files                     bool
	outDir                    *string
}

func (o *sbomFlags) run(a *app, kind string) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		d, err := a.distro()
		if err != nil {
			return err
		}
		pub := d.Publisher()
		ns, dq := o.ns, o.distro
		if ns == "" {
			ns = pub.PurlNamespace
		}
		if dq == "" {
			dq = pub.PurlDistro
		}
		name := o.name
		if name == "" {
			name = filepath.Base(filepath.Clean(args[0]))
		}
		now, err := d.Now()
		if err != nil {
			return err
		}
		res, err := sbom.Generate(c.Context(), sbom.Options{Kind: kind, Inputs: args, Name: name, Version: o.version, Created: now,
			Purl: inventory.PurlOptions{Namespace: ns, Distro: dq}, Supplier: pub.Name, Tool: "keel-" + version, Files: o.files,
			Namespace: pub.Namespace + "/spdx"})
		if err != nil {
			return fmt.Errorf("sbom %s: %w", kind, err)
		}
		outDir := a.out
		if *o.outDir != "" {
			outDir = *o.outDir
		}
		sp := filepath.Join(outDir, name+".spdx.json")
		cd := filepath.Join(outDir, name+".cdx.json")
		if err := advisory.WriteFileAtomic(sp, res.SPDX); err != nil {
			return err
		}
		if err := advisory.WriteFileAtomic(cd, res.CycloneDX); err != nil {
			return err
		}
		if a.json {
			return emit(c.OutOrStdout(), map[string]any{"spdx": sp, "cyclonedx": cd, "packages": res.Packages, "files": res.Files})
		}
		a.sayf(c.OutOrStdout(), "%d packages, %d files\n%s\n%s\n", res.Packages, res.Files, sp, cd)
		return nil
	}
}
