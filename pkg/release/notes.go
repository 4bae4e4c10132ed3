package release

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/kconfig"
)

// Notes is notes.json, the structured source of notes.md and index.html.
type Notes struct {
	Version  string          `json:"version"`
	Previous string          `json:"previous,omitempty"`
	Date     string          `json:"date"`
	Channel  string          `json:"channel"`
	Security bool            `json:"security,omitempty"`
	Added    []PackageChange `json:"added"`
	Removed  []PackageChange `json:"removed"`
	Updated  []PackageChange `json:"updated"`
	Kernels  []KernelChange  `json:"kernels"`
	Images   []ImageChange   `json:"images"`
	Fixed    []CVEFinding    `json:"cves_fixed"` // fixed in this release (affected or absent before), with evidence
	Open     []CVEFinding    `json:"cves_open"`  // still open, with SLA state
	Gates    []GateResult    `json:"gates"`
	Counts   map[string]int  `json:"counts"`
}

// PackageChange is one binary package added, removed or updated
// (unchanged packages are absent).
type PackageChange struct {
	Name   string `json:"name"`
	Arch   string `json:"arch"`
	Source string `json:"source"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
}

// ImageChange is one image's root size and boot time, with the previous
// release's for comparison (0 = not in that release / not bootable).
type ImageChange struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Size        int64   `json:"size"`
	OldSize     int64   `json:"old_size,omitempty"`
	BootSeconds float64 `json:"boot_seconds,omitempty"`
	OldBoot     float64 `json:"old_boot_seconds,omitempty"`
}

// KernelChange is a kernel package and how its configuration moved.
type KernelChange struct {
	Package string            `json:"package"`
	Old     string            `json:"old,omitempty"`
	New     string            `json:"new"`
	UnameR  string            `json:"uname_r"`
	Policy  map[string]string `json:"policy"`
	Config  []kconfig.Change  `json:"config_changes"`
}

// Compare computes notes for cur against prev (nil for the first release).
// Kernel configs are read from the releases' directories when given.
func Compare(prev, cur *Manifest) *Notes {
	return compareDirs("", prev, "", cur)
}

func compareDirs(prevDir string, prev *Manifest, curDir string, cur *Manifest) *Notes {
	n := &Notes{Version: cur.Version, Date: cur.Date, Channel: cur.Channel, Security: cur.Security, Gates: cur.Gates,
		Added: []PackageChange{}, Removed: []PackageChange{}, Updated: []PackageChange{}, Kernels: []KernelChange{}}
	old := map[string]BinaryPackage{}
	if prev != nil {
		n.Previous = prev.Version
		for _, p := range prev.Packages {
			old[p.Name+"."+p.Arch] = p
		}
	}
	seen := map[string]bool{}
	for _, p := range cur.Packages {
		k := p.Name + "." + p.Arch
		seen[k] = true
		o, ok := old[k]
		switch {
		case !ok:
			n.Added = append(n.Added, PackageChange{Name: p.Name, Arch: p.Arch, Source: p.Source, New: p.EVR()})
		case o.EVR() != p.EVR():
			n.Updated = append(n.Updated, PackageChange{Name: p.Name, Arch: p.Arch, Source: p.Source, Old: o.EVR(), New: p.EVR()})
		}
	}
	if prev != nil {
		for _, p := range prev.Packages {
			if !seen[p.Name+"."+p.Arch] {
				n.Removed = append(n.Removed, PackageChange{Name: p.Name, Arch: p.Arch, Source: p.Source, Old: p.EVR()})
			}
		}
	}
	oldK := map[string]Kernel{}
	if prev != nil {
		for _, k := range prev.Kernels {
			oldK[k.Package] = k
		}
	}
	for _, k := range cur.Kernels {
		kc := KernelChange{Package: k.Package, New: k.EVR, UnameR: k.Release, Policy: k.Policy, Config: []kconfig.Change{}}
		newCfg := k.config
		if newCfg == nil && curDir != "" {
			newCfg = readConfig(filepath.Join(curDir, k.Config))
		}
		if o, ok := oldK[k.Package]; ok {
			kc.Old = o.EVR
			if prevDir != "" {
				if oc := readConfig(filepath.Join(prevDir, o.Config)); oc != nil && newCfg != nil {
					kc.Config = kconfig.Diff(oc, newCfg)
				}
			}
		}
		n.Kernels = append(n.Kernels, kc)
	}
	n.Images = []ImageChange{}
	oldImg := map[string]ImageSummary{}
	if prev != nil {
		for _, im := range prev.Images {
			oldImg[im.Name] = im
		}
	}
	for _, im := range cur.Images {
		o := oldImg[im.Name]
		n.Images = append(n.Images, ImageChange{Name: im.Name, Kind: im.Format, Size: im.Size, OldSize: o.Size,
			BootSeconds: im.BootSeconds, OldBoot: o.BootSeconds})
	}
	n.Fixed, n.Open = []CVEFinding{}, []CVEFinding{}
	if cur.CVEs != nil {
		wasFixed := map[string]bool{}
		if prev != nil && prev.CVEs != nil {
			for _, f := range prev.CVEs.Findings {
				if f.Status == "fixed" || f.Status == "not_affected" {
					wasFixed[f.ID+"/"+f.Package] = true
				}
			}
		}
		for _, f := range cur.CVEs.Findings {
			switch f.Status {
			case "fixed":
				if prev == nil || !wasFixed[f.ID+"/"+f.Package] {
					n.Fixed = append(n.Fixed, f)
				}
			case "affected", "under_investigation", "unknown":
				n.Open = append(n.Open, f)
			}
		}
	}
	n.Counts = map[string]int{"packages": len(cur.Packages), "added": len(n.Added), "removed": len(n.Removed), "updated": len(n.Updated),
		"cves_fixed": len(n.Fixed), "cves_open": len(n.Open)}
	return n
}

func readConfig(p string) kconfig.Config {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	c, err := kconfig.Parse(bytes.NewReader(data), p)
	if err != nil {
		return nil
	}
	return c
}

// DiffReleases compares two release directories.
func DiffReleases(a, b string) (*Notes, error) {
	ma, err := ReadManifest(a)
	if err != nil {
		return nil, err
	}
	mb, err := ReadManifest(b)
	if err != nil {
		return nil, err
	}
	return compareDirs(a, ma, b, mb), nil
}

// Markdown renders notes.md.
func (n *Notes) Markdown() string {
	var b strings.Builder
	title := "Keel Linux " + n.Version
	if n.Security {
		title += " (security release)"
	}
	fmt.Fprintf(&b, "# %s\n\nReleased %s on the %s channel", title, n.Date, n.Channel)
	if n.Previous != "" {
		fmt.Fprintf(&b, "; changes since %s", n.Previous)
	}
	fmt.Fprintf(&b, ".\n\n%d packages: %d added, %d updated, %d removed.\n", n.Counts["packages"], len(n.Added), len(n.Updated), len(n.Removed))
	section := func(name string, rows []PackageChange, f func(PackageChange) string) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n| package | arch | source | version |\n|---|---|---|---|\n", name)
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Name, r.Arch, r.Source, f(r))
		}
	}
	section("Updated", n.Updated, func(r PackageChange) string { return r.Old + " → " + r.New })
	section("Added", n.Added, func(r PackageChange) string { return r.New })
	section("Removed", n.Removed, func(r PackageChange) string { return r.Old })
	if len(n.Kernels) > 0 {
		b.WriteString("\n## Kernels\n\n")
		for _, k := range n.Kernels {
			ver := k.New
			if k.Old != "" && k.Old != k.New {
				ver = k.Old + " → " + k.New
			}
			fmt.Fprintf(&b, "- **%s** %s (`%s`)\n", k.Package, ver, k.UnameR)
			for _, p := range sortedKeys(k.Policy) {
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
<html lang="en"><head><meta charset="utf-8"><title>Keel Linux {{.Version}}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:960px;color:#1b2733}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #d5dde5;padding:4px 8px;text-align:left}
th{background:#eef3f7}.pass{color:#17803d}.fail{color:#b3261e}.skipped,.waived{color:#8a6d00}code{font-size:13px}</style></head>
<body><p><a href="../index.html">All releases</a></p>
<h1>Keel Linux {{.Version}}{{if .Security}} (security release){{end}}</h1>
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
func (n *Notes) HTML(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl().Execute(&b, struct {
		*Notes
		Packages []BinaryPackage
		CVEs     *CVESummary
		Images   []ImageSummary
	}{n, m.Packages, m.CVEs, m.Images})
	return b.Bytes(), err
}

func writeNotes(dir string, n *Notes, m *Manifest) error {
	sort.Slice(n.Kernels, func(i, j int) bool { return n.Kernels[i].Package < n.Kernels[j].Package })
	if err := writeJSON(filepath.Join(dir, NotesJSON), n); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, NotesMD), []byte(n.Markdown()), 0o644); err != nil {
		return err
	}
	page, err := n.HTML(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, IndexHTML), page, 0o644)
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
