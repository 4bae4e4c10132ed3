// Package render draws a release's data (pkg/release/manifest) for people:
// notes.md, a release's index.html and the dashboard across releases. It
// reads and writes files, and runs no pipeline.
package render

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/release/manifest"
)

// Markdown renders notes.md.
func Markdown(n *manifest.Notes) string {
	var b strings.Builder
	title := n.Distro + " " + n.Version
	if n.Security {
		title += " (security release)"
	}
	fmt.Fprintf(&b, "# %s\n\nReleased %s on the %s channel", title, n.Date, n.Channel)
	if n.Previous != "" {
		fmt.Fprintf(&b, "; changes since %s", n.Previous)
	}
	fmt.Fprintf(&b, ".\n\n%d packages: %d added, %d updated, %d removed.\n", n.Counts["packages"], len(n.Added), len(n.Updated), len(n.Removed))
	section := func(name string, rows []manifest.PackageChange, f func(manifest.PackageChange) string) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n| package | arch | source | version |\n|---|---|---|---|\n", name)
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Name, r.Arch, r.Source, f(r))
		}
	}
	if u := n.Upgrading; u != nil {
		fmt.Fprintf(&b, "\n## Upgrading from the previous release\n\nFrom %s: risk **%s** (`keel assess upgrade --from %s --to %s`).\n", u.From, u.Risk, u.From, n.Version)
		if u.EndOfSecuritySupport != "" {
			fmt.Fprintf(&b, "Security support for this line ends %s; end of life %s.\n", u.EndOfSecuritySupport, u.EndOfLife)
		}
		if len(u.Summary) > 0 {
			b.WriteString("\n")
		}
		for _, i := range u.Summary {
			fmt.Fprintf(&b, "- %s: %s\n", i.Risk, i.Text)
		}
	}
	section("Updated", n.Updated, func(r manifest.PackageChange) string { return r.Old + " → " + r.New })
	section("Added", n.Added, func(r manifest.PackageChange) string { return r.New })
	section("Removed", n.Removed, func(r manifest.PackageChange) string { return r.Old })
	if len(n.Kernels) > 0 {
		b.WriteString("\n## Kernels\n\n")
		for _, k := range n.Kernels {
			ver := k.New
			if k.Old != "" && k.Old != k.New {
				ver = k.Old + " → " + k.New
			}
			fmt.Fprintf(&b, "- **%s** %s (`%s`)\n", k.Package, ver, k.UnameR)
			for _, p := range slices.Sorted(maps.Keys(k.Policy)) {
				fmt.Fprintf(&b, "  - policy %s: %s\n", p, k.Policy[p])
			}
			if len(k.Config) > 0 {
				fmt.Fprintf(&b, "  - %d config options changed:\n", len(k.Config))
				for i, c := range k.Config {
					if i == 50 {
						fmt.Fprintf(&b, "    - … and %d more (notes.json has all)\n", len(k.Config)-50)
						break
					}
					fmt.Fprintf(&b, "    - `%s`: %s → %s\n", c.Option, orUnset(c.Old), orUnset(c.New))
				}
			}
		}
	}
	if len(n.Images) > 0 {
		b.WriteString("\n## Images\n\n| image | kind | root size | boot (TCG) |\n|---|---|---|---|\n")
		for _, im := range n.Images {
			size := humanSize(im.Size)
			if im.OldSize != 0 && im.OldSize != im.Size {
				size = humanSize(im.OldSize) + " → " + size
			}
			bootS := "—"
			if im.BootSeconds > 0 {
				bootS = fmt.Sprintf("%.1f s", im.BootSeconds)
				if im.OldBoot > 0 {
					bootS = fmt.Sprintf("%.1f s → %.1f s", im.OldBoot, im.BootSeconds)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", im.Name, im.Kind, size, bootS)
		}
	}
	if len(n.Fixed) > 0 {
		b.WriteString("\n## CVEs fixed\n\n| CVE | package | severity | fixed in | evidence |\n|---|---|---|---|---|\n")
		for _, f := range n.Fixed {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.ID, f.Package, f.Severity, f.FixedIn, strings.ReplaceAll(f.Evidence, "|", "\\|"))
		}
	}
	if len(n.Open) > 0 {
		b.WriteString("\n## CVEs still open\n\n| CVE | package | severity | status | SLA |\n|---|---|---|---|---|\n")
		for _, f := range n.Open {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.ID, f.Package, f.Severity, f.Status, f.SLA)
		}
	}
	b.WriteString("\n## Gates\n\n| gate | status | summary |\n|---|---|---|\n")
	for _, g := range n.Gates {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", g.Name, g.Status, strings.ReplaceAll(g.Summary, "|", "\\|"))
	}
	return b.String()
}

func orUnset(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// pageTmpl is parsed on first use, not at start-up of every keel command.
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{"size": humanSize}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Distro}} {{.Version}}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:960px;color:#1b2733}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #d5dde5;padding:4px 8px;text-align:left}
th{background:#eef3f7}.pass{color:#17803d}.fail{color:#b3261e}.skipped,.waived{color:#8a6d00}code{font-size:13px}</style></head>
<body><p><a href="../index.html">All releases</a></p>
<h1>{{.Distro}} {{.Version}}{{if .Security}} (security release){{end}}</h1>
<p id="overview">Released {{.Date}} on the <b>{{.Channel}}</b> channel{{if .Previous}}; changes since {{.Previous}}{{end}}.
{{index .Counts "packages"}} packages: {{len .Added}} added, {{len .Updated}} updated, {{len .Removed}} removed.</p>
{{if .Updated}}<h2>Updated</h2><table><tr><th>package</th><th>arch</th><th>old</th><th>new</th></tr>
{{range .Updated}}<tr><td>{{.Name}}</td><td>{{.Arch}}</td><td>{{.Old}}</td><td>{{.New}}</td></tr>{{end}}</table>{{end}}
{{if .Added}}<h2>Added</h2><table><tr><th>package</th><th>arch</th><th>version</th></tr>
{{range .Added}}<tr><td>{{.Name}}</td><td>{{.Arch}}</td><td>{{.New}}</td></tr>{{end}}</table>{{end}}
{{if .Removed}}<h2>Removed</h2><table><tr><th>package</th><th>arch</th><th>version</th></tr>
{{range .Removed}}<tr><td>{{.Name}}</td><td>{{.Arch}}</td><td>{{.Old}}</td></tr>{{end}}</table>{{end}}
<h2>Kernels</h2><table><tr><th>package</th><th>version</th><th>uname -r</th><th>policies</th><th>config changes</th></tr>
{{range .Kernels}}<tr><td>{{.Package}}</td><td>{{if and .Old (ne .Old .New)}}{{.Old}} → {{end}}{{.New}}</td><td><code>{{.UnameR}}</code></td>
<td>{{range $k, $v := .Policy}}{{$k}}: {{$v}}<br>{{end}}</td><td>{{len .Config}}</td></tr>{{end}}</table>
<h2>Gates</h2><table id="gates"><tr><th>gate</th><th>status</th><th>summary</th></tr>
{{range .Gates}}<tr><td>{{.Name}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Summary}}</td></tr>{{end}}</table>
{{if .Fixed}}<h2>CVEs fixed in this release</h2><table id="cves-fixed"><tr><th>CVE</th><th>package</th><th>severity</th><th>fixed in</th><th>evidence</th></tr>
{{range .Fixed}}<tr><td>{{.ID}}</td><td>{{.Package}}</td><td>{{.Severity}}</td><td>{{.FixedIn}}</td><td>{{.Evidence}}</td></tr>{{end}}</table>{{end}}
<h2>CVEs</h2>{{if .CVEs}}<p>{{.CVEs.Open}} open ({{.CVEs.Breached}} past their SLA, {{.CVEs.DueSoon}} due soon), {{.CVEs.Fixed}} fixed.</p>
<table id="cves"><tr><th>CVE</th><th>package</th><th>severity</th><th>status</th><th>SLA</th><th>fixed in</th></tr>
{{range .CVEs.Findings}}<tr><td>{{.ID}}</td><td>{{.Package}}</td><td>{{.Severity}}</td><td>{{.Status}}</td><td>{{.SLA}}</td><td>{{.FixedIn}}</td></tr>{{end}}</table>
{{else}}<p class="skipped">No CVE data: advisory matching is not part of this release's pipeline yet.</p>{{end}}
{{if .Images}}<h2>Images</h2><table id="images"><tr><th>image</th><th>kind</th><th>root size</th><th>boot (TCG)</th><th>manifest</th></tr>
{{range .Images}}<tr><td>{{.Name}}</td><td>{{.Format}}</td><td>{{size .Size}}</td><td>{{if .BootSeconds}}{{printf "%.1f s" .BootSeconds}}{{else}}—{{end}}</td><td><a href="{{.File}}">{{.File}}</a></td></tr>{{end}}</table>{{end}}
<h2>Packages</h2><table id="packages"><tr><th>package</th><th>version</th><th>arch</th><th>source</th><th>size</th></tr>
{{range .Packages}}<tr><td>{{.Name}}</td><td>{{.EVR}}</td><td>{{.Arch}}</td><td>{{.Source}}</td><td>{{size .Size}}</td></tr>{{end}}</table>
</body></html>
`))
})

// HTML renders a release's index.html (self-contained: no external
// assets): the notes plus the full package and CVE tables of m.
func HTML(n *manifest.Notes, m *manifest.Manifest) ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl().Execute(&b, struct {
		*manifest.Notes
		Packages []manifest.BinaryPackage
		CVEs     *manifest.CVESummary
		Images   []manifest.ImageSummary
	}{n, m.Packages, m.CVEs, m.Images})
	return b.Bytes(), err
}

// WriteNotes writes a release's notes.md and index.html into dir (the
// release's staging directory: it is renamed into place whole).
func WriteNotes(dir string, n *manifest.Notes, m *manifest.Manifest) error {
	if err := os.WriteFile(filepath.Join(dir, manifest.NotesMD), []byte(Markdown(n)), 0o644); err != nil {
		return err
	}
	page, err := HTML(n, m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifest.IndexHTML), page, 0o644)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
