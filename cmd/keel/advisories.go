package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/advisory"
	"github.com/keel-linux/keel/pkg/inventory"
)

// store is the advisory store: flag, else the tree's advisories/.
func (a *app) store(flag string) (advisory.Store, error) {
	if flag != "" {
		return advisory.Store{Root: flag}, nil
	}
	d, err := a.distro()
	if err != nil {
		return advisory.Store{}, err
	}
	return advisory.Store{Root: filepath.Join(d.Dir, "advisories")}, nil
}

func newAdvisoriesCmd(a *app) *cobra.Command {
	var store string
	c := group("advisories", "Import, record and export vulnerability advisories (OSV model)", `The advisory store (default: the tree's advisories/) holds one OSV record
per advisory and package, from feeds (sync) and from the specs themselves
(evidence). export writes them as OSV, OVAL, CSAF VEX or OpenVEX under the
publisher name keel.yaml gives.`,
		newAdvisoriesSyncCmd(a, &store), newAdvisoriesEvidenceCmd(a, &store), newAdvisoriesExportCmd(a, &store), newAdvisoriesListCmd(a, &store))
	c.PersistentFlags().StringVar(&store, "store", "", "advisory store (default <distro>/advisories)")
	return c
}

func newAdvisoriesSyncCmd(a *app, store *string) *cobra.Command {
	var kind, source, nvdAPI, since string
	cmd := &cobra.Command{
		Use:   "sync --kind oval|osv|nvd|csaf [FILE|URL...]",
		Short: "Import a feed snapshot incrementally (adds, updates, withdraws; records detection time)",
		Long: `Import a feed snapshot into the store: new advisories are added, changed
ones updated, ones gone from the feed withdrawn; the time each was first
seen is kept. With --nvd-api, poll the NVD API by lastModified windows.`,
		Example: `  keel advisories sync --kind oval azurelinux-3.0-oval.xml
  keel advisories sync --kind nvd --nvd-api http://127.0.0.1:8000/rest/json/cves/2.0`,
		RunE: func(c *cobra.Command, args []string) error {
			o := advisory.ImportOptions{Kind: kind, Inputs: args, Source: source, NVDAPI: nvdAPI}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return usageError{fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", since)}
				}
				o.NVDSince = t
			}
			if len(args) == 0 && nvdAPI == "" {
				return usageError{fmt.Errorf("advisories sync: no input files or URLs")}
			}
			st, err := a.store(*store)
			if err != nil {
				return err
			}
			rep, err := st.SyncInputs(c.Context(), o)
			if err != nil {
				return fmt.Errorf("advisories sync: %w", err)
			}
			out := c.OutOrStdout()
			if a.json {
				return emit(out, rep)
			}
			a.sayf(out, "%s: %d added, %d updated, %d withdrawn, %d unchanged, %d skipped, %d conflicts\n",
				rep.Source, len(rep.Added), len(rep.Updated), len(rep.Withdrawn), rep.Unchanged, len(rep.Skipped), len(rep.Conflicts))
			for _, s := range rep.Skipped {
				a.sayf(out, "  skipped %s: %s\n", s.Ref, s.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "oval", "feed kind: oval, osv, nvd, csaf")
	f.StringVar(&source, "source", "", "store subdirectory (default per kind: azurelinux-oval, osv, nvd, csaf)")
	f.StringVar(&nvdAPI, "nvd-api", "", "poll this NVD CVE API 2.0 URL by lastModified windows instead of reading files")
	f.StringVar(&since, "since", "", "first NVD window start (RFC 3339); later polls resume from the stored window end")
	return cmd
}

func newAdvisoriesEvidenceCmd(a *app, store *string) *cobra.Command {
	var dist string
	cmd := &cobra.Command{
		Use:   "evidence [SPEC...]",
		Short: "Record fixed/not-affected evidence from specs (Patch CVE-*.patch, %changelog, CVE-*.nopatch)",
		Long: `Read the tree's specs (or the given ones) with the distribution's spec
reader (the one keel specs and keel build use: its macros, dist tag and
arch) and record, per CVE, "fixed by patch in EVR" or "not affected: reason"
in the store's keel source.`,
		Example: "  keel advisories evidence\n  keel advisories evidence distro/SPECS/openssl/openssl.spec",
		RunE: func(c *cobra.Command, args []string) error {
			d, err := a.distro()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				if args, err = d.SpecPaths(); err != nil {
					return err
				}
			}
			var defines []string
			if dist != "" {
				defines = append(defines, "dist "+dist)
			}
			r, err := d.SpecReader(defines...)
			if err != nil {
				return err
			}
			st, err := a.store(*store)
			if err != nil {
				return err
			}
			now, err := d.Now()
			if err != nil {
				return err
			}
			var all []string
			for _, sp := range args {
				se, err := advisory.EvidenceFromSpec(c.Context(), r, sp)
				if err != nil {
					return fmt.Errorf("advisories evidence: %w", err)
				}
				se.Ecosystem = d.Publisher().Ecosystem // the records are the distribution's
				ids, err := st.ApplyEvidence(se, now)
				if err != nil {
					return fmt.Errorf("advisories evidence %s: %w", sp, err)
				}
				all = append(all, ids...)
			}
			out := c.OutOrStdout()
			if a.json {
				for _, id := range all {
					if err := emit(out, map[string]string{"written": id}); err != nil {
						return err
					}
				}
				return nil
			}
			a.sayf(out, "%d record(s) written\n", len(all))
			for _, id := range all {
				a.sayf(out, "  %s\n", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dist, "dist", "", "dist tag used to expand Release (default: keel.yaml's dist_tag)")
	return cmd
}

// outputFlag defines -o/--output FILE: the one spelling of an output file.
func outputFlag(cmd *cobra.Command, p *string, what string) {
	cmd.Flags().StringVarP(p, "output", "o", "", "output file for "+what+" (default: stdout; written atomically)")
}

func newAdvisoriesExportCmd(a *app, store *string) *cobra.Command {
	var format, output, sources, ns, distroQ string
	cmd := &cobra.Command{
		Use:   "export --format osv|oval|csaf|openvex",
		Short: "Export advisories from the store as OSV, OVAL 5.11, CSAF 2.0 VEX or OpenVEX",
		Long: `Write the store's advisories (default: the keel source) as one document.
The publisher, namespaces, OVAL platform and purl qualifiers come from
keel.yaml (pretty_name, version, home_url, name). SOURCE_DATE_EPOCH, when
set, is the document's time.`,
		Example: `  keel advisories export --format csaf -o vex.json
  keel advisories export --format oval --source "" -o oval.xml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			d, err := a.distro()
			if err != nil {
				return err
			}
			st, err := a.store(*store)
			if err != nil {
				return err
			}
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
			now, err := d.Now()
			if err != nil {
				return err
			}
			pub := d.Publisher()
			if ns == "" {
				ns = pub.PurlNamespace
			}
			if distroQ == "" {
				distroQ = pub.PurlDistro
			}
			eo := advisory.ExportOptions{Publisher: pub.Name, Namespace: pub.Namespace, ID: d.Config.Name + "-vex-" + now.Format("20060102"), Now: now, Version: version,
				Purl: inventory.PurlFunc(inventory.PurlOptions{Namespace: ns, Distro: distroQ})}
			doc, err := advisory.Export(res.Advisories, format, eo, advisory.OVALExport{Namespace: pub.OVALNamespace, Platform: pub.Platform, Timestamp: now})
			if err != nil {
				return fmt.Errorf("advisories export %s: %w", format, err)
			}
			if output == "" || output == "-" {
				_, err = c.OutOrStdout().Write(doc)
				return err
			}
			return advisory.WriteFileAtomic(output, doc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "osv", "document format: osv, oval, csaf or openvex")
	outputFlag(cmd, &output, "the document")
	f.StringVar(&sources, "source", "keel", "store source to export (\"\" = all)")
	purlFlags(cmd, &ns, &distroQ)
	return cmd
}

// purlFlags are the purl qualifiers of SBOMs and VEX documents.
func purlFlags(cmd *cobra.Command, ns, distroQ *string) {
	cmd.Flags().StringVar(ns, "purl-namespace", "", "purl namespace (default: keel.yaml's name)")
	cmd.Flags().StringVar(distroQ, "purl-distro", "", "purl distro qualifier (default: <name>-<version> from keel.yaml)")
}

func newAdvisoriesListCmd(a *app, store *string) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the advisories in the store with their status, fixed EVR and severity",
		Long:    "List every advisory of the store, sorted by id: CVE, package, status, fixed EVR and effective severity. --json prints one record per line.",
		Example: "  keel advisories list\n  keel advisories list --json | jq -c 'select(.keel.status==\"affected\")'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			st, err := a.store(*store)
			if err != nil {
				return err
			}
			res, err := st.Load()
			if err != nil {
				return err
			}
			sort.Slice(res.Advisories, func(i, j int) bool { return res.Advisories[i].OSV.ID < res.Advisories[j].OSV.ID })
			out := c.OutOrStdout()
			for _, adv := range res.Advisories {
				if a.json {
					if err := emit(out, adv); err != nil {
						return err
					}
					continue
				}
				w := ""
				if adv.OSV.Withdrawn != nil {
					w = " (withdrawn)"
				}
				fmt.Fprintf(out, "%-36s %-16s %-18s %-13s %-22s %s%s\n", adv.OSV.ID, adv.Keel.CVE, adv.Keel.Package, adv.Keel.Status, adv.FixedEVR(), adv.EffectiveSeverity(), w)
			}
			for _, e := range res.Errors {
				fmt.Fprintln(c.ErrOrStderr(), "keel: error:", e)
			}
			if len(res.Errors) > 0 {
				return fmt.Errorf("%d unreadable record(s)", len(res.Errors))
			}
			return nil
		},
	}
}
