package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/scan"
)

// securityStore is the advisory store: --store, else <distro>/advisories.
func securityStore(flag string) advisory.Store {
	if flag != "" {
		return advisory.Store{Root: flag}
	}
	d := globals.distro
	if d == "" {
		d = "distro"
	}
	return advisory.Store{Root: filepath.Join(d, "advisories")}
}

// securityNow honours SOURCE_DATE_EPOCH for reproducible exports.
func securityNow() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC()
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func init() {
	cmd := &cobra.Command{Use: "advisories", Short: "Import, record and export vulnerability advisories (OSV model)"}
	var store string
	cmd.PersistentFlags().StringVar(&store, "store", "", "advisory store (default <distro>/advisories)")

	var kind, source, nvdAPI, since string
	sync := &cobra.Command{
		Use:   "sync --kind oval|osv|nvd|csaf [FILE|URL...]",
		Short: "Import a feed snapshot incrementally (adds, updates, withdraws; records detection time)",
		RunE: func(c *cobra.Command, args []string) error {
			o := advisory.ImportOptions{Kind: kind, Inputs: args, Source: source, NVDAPI: nvdAPI}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				o.NVDSince = t
			}
			if len(args) == 0 && nvdAPI == "" {
				return fmt.Errorf("advisories sync: no input files or URLs")
			}
			rep, err := securityStore(store).SyncInputs(c.Context(), o)
			if err != nil {
				return fmt.Errorf("advisories sync: %w", err)
			}
			if globals.json {
				return printJSON(rep)
			}
			fmt.Printf("%s: %d added, %d updated, %d withdrawn, %d unchanged, %d skipped, %d conflicts\n",
				rep.Source, len(rep.Added), len(rep.Updated), len(rep.Withdrawn), rep.Unchanged, len(rep.Skipped), len(rep.Conflicts))
			for _, s := range rep.Skipped {
				fmt.Printf("  skipped %s: %s\n", s.Ref, s.Reason)
			}
			return nil
		},
	}
	sync.Flags().StringVar(&kind, "kind", "oval", "feed kind: oval, osv, nvd, csaf")
	sync.Flags().StringVar(&source, "source", "", "store subdirectory (default per kind: azurelinux-oval, osv, nvd, csaf)")
	sync.Flags().StringVar(&nvdAPI, "nvd-api", "", "poll this NVD CVE API 2.0 URL by lastModified windows instead of reading files")
	sync.Flags().StringVar(&since, "since", "", "first NVD window start (RFC 3339); later polls resume from the stored window end")

	var dist string
	evidence := &cobra.Command{
		Use:   "evidence [SPEC...]",
		Short: "Record fixed/not-affected evidence from specs (Patch CVE-*.patch, %changelog, CVE-*.nopatch)",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				d := globals.distro
				if d == "" {
					d = "distro"
				}
				m, _ := filepath.Glob(filepath.Join(d, "SPECS", "*", "*.spec"))
				args = m
			}
			st := securityStore(store)
			var all []string
			for _, sp := range args {
				se, err := advisory.EvidenceFromSpec(c.Context(), sp, advisory.SpecOptions{Dist: dist})
				if err != nil {
					return fmt.Errorf("advisories evidence: %w", err)
				}
				ids, err := st.ApplyEvidence(se, securityNow())
				if err != nil {
					return fmt.Errorf("advisories evidence %s: %w", sp, err)
				}
				all = append(all, ids...)
			}
			if globals.json {
				return printJSON(map[string]any{"written": all})
			}
			fmt.Printf("%d record(s) written\n", len(all))
			for _, id := range all {
				fmt.Println(" ", id)
			}
			return nil
		},
	}
	evidence.Flags().StringVar(&dist, "dist", ".kl1", "dist tag used to expand Release")

	var format, output, sources, ns, distroQ string
	export := &cobra.Command{
		Use:   "export --format osv|oval|csaf|openvex",
		Short: "Export advisories from the store as OSV, OVAL 5.11, CSAF 2.0 VEX or OpenVEX",
		RunE: func(c *cobra.Command, args []string) error {
			st := securityStore(store)
			var srcs []string
			if sources != "" {
				srcs = []string{sources}
			}
			res, err := st.Load(srcs...)
			if err != nil {
				return fmt.Errorf("advisories export: %w", err)
			}
			if len(res.Errors) > 0 {
				return fmt.Errorf("advisories export: %w", res.Errors[0])
			}
			now := securityNow()
			eo := advisory.ExportOptions{Publisher: "Keel Linux", Namespace: "https://keel-linux.io", ID: "keel-vex-" + now.Format("20060102"), Now: now, Version: version,
				Purl: scan.PurlFunc(scan.PurlOptions{Namespace: ns, Distro: distroQ})}
			out, err := advisory.Export(res.Advisories, format, eo, advisory.OVALExport{Namespace: "io.keel-linux", Platform: "Keel Linux 1.0", Timestamp: now})
			if err != nil {
				return fmt.Errorf("advisories export %s: %w", format, err)
			}
			if output == "" || output == "-" {
				_, err = os.Stdout.Write(out)
				return err
			}
			return advisory.WriteFileAtomic(output, out)
		},
	}
	export.Flags().StringVar(&format, "format", "osv", "osv, oval, csaf or openvex")
	export.Flags().StringVarP(&output, "output", "o", "", "output file (default stdout)")
	export.Flags().StringVar(&sources, "source", "keel", "store source to export (\"\" = all)")
	export.Flags().StringVar(&ns, "purl-namespace", "keel", "purl namespace")
	export.Flags().StringVar(&distroQ, "purl-distro", "keel-1.0", "purl distro qualifier")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the advisories in the store with their status, fixed EVR and severity",
		RunE: func(c *cobra.Command, args []string) error {
			res, err := securityStore(store).Load()
			if err != nil {
				return err
			}
			sort.Slice(res.Advisories, func(i, j int) bool { return res.Advisories[i].OSV.ID < res.Advisories[j].OSV.ID })
			if globals.json {
				return printJSON(res.Advisories)
			}
			for _, a := range res.Advisories {
				w := ""
				if a.OSV.Withdrawn != nil {
					w = " (withdrawn)"
				}
				fmt.Printf("%-36s %-16s %-18s %-13s %-22s %s%s\n", a.OSV.ID, a.Keel.CVE, a.Keel.Package, a.Keel.Status, a.FixedEVR(), a.EffectiveSeverity(), w)
			}
			for _, e := range res.Errors {
				fmt.Fprintln(os.Stderr, "error:", e)
			}
			if len(res.Errors) > 0 {
				return fmt.Errorf("%d unreadable record(s)", len(res.Errors))
			}
			return nil
		},
	}
	cmd.AddCommand(sync, evidence, export, list)
	rootCmd.AddCommand(cmd)
}
