package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/scan"
)

func advisoryEVR(s string) (rpm.EVR, error) { return rpm.ParseEVR(s) }

func newScanCmd(a *app) *cobra.Command {
	var stores, ovalFeeds, osvFeeds []string
	var format, failOn string
	var all bool
	run := func(kind string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			switch format {
			case "table", "json", "sarif":
			default:
				return usageError{fmt.Errorf("--format %q: expected table, json or sarif", format)}
			}
			pkgs, notes, err := inventory.ReadInput(c.Context(), kind, args)
			if err != nil {
				return fmt.Errorf("scan %s: %w", kind, err)
			}
			var advs []*advisory.Advisory
			if len(stores) == 0 && len(ovalFeeds) == 0 && len(osvFeeds) == 0 {
				st, err := a.store("")
				if err != nil {
					return err
				}
				stores = []string{st.Root}
			}
			for _, s := range stores {
				// A store that is not there is no data, not "0 affected".
				if fi, err := os.Stat(s); err != nil || !fi.IsDir() {
					return fmt.Errorf("scan: no advisory store at %s (pass --store DIR, --oval FILE or --osv FILE)", s)
				}
				res, err := advisory.Store{Root: s}.Load()
				if err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				for _, e := range res.Errors {
					return fmt.Errorf("scan: advisory store: %w", e)
				}
				advs = append(advs, res.Advisories...)
				from := ""
				if strings.HasPrefix(s, a.cacheDir()+string(filepath.Separator)) {
					from = " (the embedded Keel Linux tree's)"
				}
				notes = append(notes, fmt.Sprintf("advisory store %s%s: %d advisories", s, from, len(res.Advisories)))
			}
			for _, f := range ovalFeeds {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				d, err := oval.Parse(f, bytes.NewReader(b))
				if err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				as, skips := advisory.FromOVAL(d, advisory.OVALImport{IDPrefix: "AZL", Ecosystem: "Azure Linux:3.0"})
				advs = append(advs, as...)
				if len(skips) > 0 {
					notes = append(notes, fmt.Sprintf("%s: %d definitions skipped (first: %s: %s)", f, len(skips), skips[0].Ref, skips[0].Reason))
				}
			}
			for _, f := range osvFeeds {
				fh, err := os.Open(f)
				if err != nil {
					return err
				}
				vs, err := osv.ReadAll(f, fh)
				fh.Close()
				if err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				as, skips := advisory.FromOSV(vs)
				advs = append(advs, as...)
				if len(skips) > 0 {
					notes = append(notes, fmt.Sprintf("%s: %d records skipped", f, len(skips)))
				}
			}
			if len(advs) == 0 {
				return fmt.Errorf("scan: no advisory data in %s: nothing to match against", strings.Join(append(append(stores, ovalFeeds...), osvFeeds...), ", "))
			}
			rep, scanErr := scan.Run(c.Context(), pkgs, scan.Options{Advisories: advs, FailOn: failOn, IncludeFixed: all, SLA: advisory.DefaultSLA()})
			if rep == nil {
				return scanErr
			}
			rep.Notes = append(rep.Notes, notes...)
			f := format
			out := c.OutOrStdout()
			switch {
			case a.json && f != "sarif":
				err = emit(out, rep) // one JSON line, as every --json
			case f == "json":
				err = scan.WriteJSON(out, rep)
			case f == "sarif":
				err = scan.WriteSARIF(out, rep, version)
			default:
				err = scan.WriteTable(out, rep)
			}
			if err != nil {
				return err
			}
			return scanErr
		}
	}
	cmd := group("scan", "Match packages against advisories (exit 3 when affected)", `Match the packages of a repository, RPM files, an image or an SBOM against
the advisory store (default: the tree's advisories/) and any OVAL or OSV
feeds given. Exit status 3 when a package is affected at or above --fail-on.
--json prints the json report as one line.`)
	for _, k := range []struct{ use, short, example string }{
		{"repo DIR...", "Scan the binary RPMs of a repository directory", "  keel scan repo out/repo --fail-on High"},
		{"rpm FILE...", "Scan RPM files", "  keel scan rpm openssl-3.0.15-1.kl1.x86_64.rpm --oval feed.xml"},
		{"image MANIFEST.json|ROOT...", "Scan an image manifest or an image root's rpmdb", "  keel scan image out/images/vm/manifest.json --format sarif > scan.sarif"},
		{"sbom FILE...", "Scan an SPDX 2.3 or CycloneDX JSON SBOM", "  keel scan sbom container.spdx.json --json"},
	} {
		kind := strings.Fields(k.use)[0]
		cmd.AddCommand(&cobra.Command{Use: k.use, Short: k.short, Long: k.short + " against the advisories (see keel scan --help).",
			Example: k.example, Args: cobra.MinimumNArgs(1), RunE: run(kind)})
	}
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&stores, "store", nil, "advisory store(s) (default <distro>/advisories)")
	pf.StringSliceVar(&ovalFeeds, "oval", nil, "also match this OVAL feed directly")
	pf.StringSliceVar(&osvFeeds, "osv", nil, "also match these OSV records directly")
	pf.StringVar(&format, "format", "table", "report format: table, json or sarif")
	pf.StringVar(&failOn, "fail-on", "", "lowest severity that fails the scan (exit 3): Low, Medium, High, Critical, none; default any")
	pf.BoolVar(&all, "all", false, "also list fixed and not-affected matches (VEX view)")
	return cmd
}
