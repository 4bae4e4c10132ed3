package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/scan"
)

func advisoryEVR(s string) (rpm.EVR, error) { return rpm.ParseEVR(s) }

func init() {
	var stores, ovalFeeds, osvFeeds []string
	var format, failOn string
	var all bool
	cmd := &cobra.Command{Use: "scan", Short: "Match packages against advisories (exit 3 when affected)"}
	run := func(kind string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("scan %s: nothing to scan", kind)
			}
			pkgs, notes, err := scan.ReadInput(c.Context(), kind, args)
			if err != nil {
				return fmt.Errorf("scan %s: %w", kind, err)
			}
			var advs []*advisory.Advisory
			if len(stores) == 0 && len(ovalFeeds) == 0 && len(osvFeeds) == 0 {
				stores = []string{securityStore("").Root}
			}
			for _, s := range stores {
				res, err := advisory.Store{Root: s}.Load()
				if err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				for _, e := range res.Errors {
					return fmt.Errorf("scan: advisory store: %w", e)
				}
				advs = append(advs, res.Advisories...)
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
			rep, scanErr := scan.Run(c.Context(), pkgs, scan.Options{Advisories: advs, FailOn: failOn, IncludeFixed: all, SLA: advisory.DefaultSLA()})
			if rep == nil {
				return scanErr
			}
			rep.Notes = append(rep.Notes, notes...)
			f := format
			if globals.json && f == "table" {
				f = "json"
			}
			switch f {
			case "json":
				err = scan.WriteJSON(os.Stdout, rep)
			case "sarif":
				err = scan.WriteSARIF(os.Stdout, rep, version)
			case "table":
				err = scan.WriteTable(os.Stdout, rep)
			default:
				return fmt.Errorf("scan: --format %q: expected table, json or sarif", format)
			}
			if err != nil {
				return err
			}
			return scanErr
		}
	}
	for _, k := range []struct{ use, short string }{
		{"repo DIR...", "Scan the binary RPMs of a repository directory"},
		{"rpm FILE...", "Scan RPM files"},
		{"image MANIFEST.json|ROOT...", "Scan an image manifest or an image root's rpmdb"},
		{"sbom FILE...", "Scan an SPDX 2.3 or CycloneDX JSON SBOM"},
	} {
		kind := firstWord(k.use)
		cmd.AddCommand(&cobra.Command{Use: k.use, Short: k.short, RunE: run(kind)})
	}
	pf := cmd.PersistentFlags()
	pf.Var(newListFlag(&stores, true), "store", "advisory store(s) (default <distro>/advisories)")
	pf.Var(newListFlag(&ovalFeeds, true), "oval", "also match this OVAL feed directly")
	pf.Var(newListFlag(&osvFeeds, true), "osv", "also match these OSV records directly")
	pf.StringVar(&format, "format", "table", "table, json or sarif")
	pf.StringVar(&failOn, "fail-on", "", "lowest severity that fails the scan (exit 3): Low, Medium, High, Critical, none; default any")
	pf.BoolVar(&all, "all", false, "also list fixed and not-affected matches (VEX view)")
	rootCmd.AddCommand(cmd)
}

func firstWord(s string) string {
	for i, c := range s {
		if c == ' ' {
			return s[:i]
		}
	}
	return s
}
