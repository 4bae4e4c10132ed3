package render

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"path/filepath"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// DashboardFile is the page across releases, in the releases directory.
const DashboardFile = "index.html"

// series is one line of a chart.
type series struct {
	Name   string
	Color  string
	Values []float64 // NaN = no data for that release
}

var palette = []string{"#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0a7b83"}

// svgChart draws a small line chart with one x label per release. It is
// inline SVG: the page needs no external assets.
func svgChart(title string, labels []string, ss []series, unit string) template.HTML {
	const w, h, left, right, top, bottom = 680.0, 220.0, 64.0, 56.0, 28.0, 44.0
	maxV := 0.0
	any := false
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				any = true
				maxV = math.Max(maxV, v)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" data-chart=%q><figcaption>%s</figcaption>`, title, template.HTMLEscapeString(title))
	if !any || len(labels) == 0 {
		b.WriteString(`<p class="nodata">No data in these releases yet.</p></figure>`)
		return template.HTML(b.String())
	}
	if unit == "bytes" { // one scale for the whole axis
		unit = "bytes-KiB"
		if maxV >= 4<<20 {
			unit = "bytes-MiB"
		}
	}
	if unit == "" { // counts: integer ticks
		maxV = math.Max(4, math.Ceil(maxV/4)*4)
	} else if maxV == 0 {
		maxV = 1
	}
	x := func(i int) float64 {
		if len(labels) == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(labels)-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/maxV) }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label=%q>`, w, h, w, h, title)
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#d8dee4"/><text x="%.0f" y="%.1f" font-size="11" text-anchor="end" fill="#57606a">%s</text>`,
			left, w-right, y(v), y(v), left-6, y(v)+4, fmtValue(v, unit))
	}
	for i, l := range labels {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="11" text-anchor="middle" fill="#57606a">%s</text>`, x(i), h-bottom+18, template.HTMLEscapeString(l))
	}
	for si, s := range ss {
		var pts []string
		for i, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s: %s</title></circle>`, x(i), y(v), s.Color, template.HTMLEscapeString(s.Name), labels[i], fmtValue(v, unit))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.Color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" font-size="12" fill="%s">%s</text>`, left+float64(si)*150, 16, s.Color, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

func fmtValue(v float64, unit string) string {
	switch unit {
	case "bytes-MiB":
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case "bytes-KiB":
		return fmt.Sprintf("%.0f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

type dashRow struct {
	Version, Date, Channel string
	Security               bool
	Packages, Updated      int
	Gates                  string
	GatesOK                bool
	CVEsOpen               string
	Stable, Preview        bool
}

type dashboard struct {
	Title  string // the latest release's distribution
	Rows   []dashRow
	Charts []template.HTML
	Latest string
	Stable string
}

var dashTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("dash").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} releases</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#1b2733}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #d5dde5;padding:4px 8px;text-align:left}
th{background:#eef3f7}.ok{color:#17803d}.bad{color:#b3261e}.tag{font-size:12px;border-radius:9px;padding:1px 7px;background:#ddf4ff;color:#0969da;margin-left:4px}
.charts{display:grid;grid-template-columns:1fr;gap:12px}figure{margin:0}figcaption{font-weight:600;margin:.3em 0}.nodata{color:#57606a;font-style:italic}</style></head>
<body><h1>{{.Title}} releases</h1>
<p id="pointers">Latest: <b>{{.Latest}}</b>{{if .Stable}} · stable: <b>{{.Stable}}</b>{{end}}</p>
<table id="releases"><tr><th>release</th><th>date</th><th>channel</th><th>packages</th><th>updated</th><th>open CVEs</th><th>gates</th></tr>
{{range .Rows}}<tr class="release"><td><a href="{{.Version}}/index.html">{{.Version}}</a>{{if .Stable}}<span class="tag">stable</span>{{end}}{{if .Preview}}<span class="tag">preview</span>{{end}}{{if .Security}}<span class="tag">security</span>{{end}}</td>
<td>{{.Date}}</td><td>{{.Channel}}</td><td>{{.Packages}}</td><td>{{.Updated}}</td><td>{{.CVEsOpen}}</td><td class="{{if .GatesOK}}ok{{else}}bad{{end}}">{{.Gates}}</td></tr>
{{end}}</table>
<h2>Over releases</h2><div class="charts">{{range .Charts}}{{.}}{{end}}</div>
</body></html>
`))
})

// WriteDashboard renders releases/index.html from index.json and every
// release's manifest and notes.
func WriteDashboard(dir string) error {
	idx, err := manifest.ReadIndex(dir)
	if err != nil {
		return err
	}
	var labels []string
	var pkgs, open, breached []float64
	sizes := map[string][]float64{}
	var imageNames []string
	d := dashboard{Stable: idx.Channels["stable"]}
	for i, e := range idx.Releases {
		m, err := manifest.ReadManifest(filepath.Join(dir, e.Version))
		if err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		labels = append(labels, e.Version)
		pkgs = append(pkgs, float64(len(m.Packages)))
		row := dashRow{Version: e.Version, Date: e.Date, Channel: e.Channel, Security: e.Security, Packages: len(m.Packages),
			Stable: idx.Channels["stable"] == e.Version, Preview: idx.Channels["preview"] == e.Version, CVEsOpen: "no data", GatesOK: true}
		var g []string
		for _, gr := range m.Gates {
			g = append(g, gr.Name+": "+gr.Status)
			if gr.Status == "fail" {
				row.GatesOK = false
			}
		}
		row.Gates = strings.Join(g, ", ")
		if m.CVEs != nil {
			row.CVEsOpen = fmt.Sprint(m.CVEs.Open)
			open = append(open, float64(m.CVEs.Open))
			breached = append(breached, float64(m.CVEs.Breached))
		} else {
			open = append(open, math.NaN())
			breached = append(breached, math.NaN())
		}
		if n, err := manifest.ReadNotes(filepath.Join(dir, e.Version)); err == nil {
			row.Updated = len(n.Updated)
		}
		for _, im := range m.Images {
			if _, ok := sizes[im.Name]; !ok {
				imageNames = append(imageNames, im.Name)
				sizes[im.Name] = nanSlice(i)
			}
		}
		for name := range sizes {
			v := math.NaN()
			for _, im := range m.Images {
				if im.Name == name {
					v = float64(im.Size)
				}
			}
			sizes[name] = append(sizes[name], v)
		}
		d.Rows = append([]dashRow{row}, d.Rows...) // newest first
		d.Latest, d.Title = e.Version, m.Title()
	}
	var imgSeries []series
	for i, n := range imageNames {
		imgSeries = append(imgSeries, series{Name: n, Color: palette[i%len(palette)], Values: sizes[n]})
	}
	d.Charts = []template.HTML{
		svgChart("Open CVEs", labels, []series{{Name: "open", Color: palette[1], Values: open}}, ""),
		svgChart("SLA breaches", labels, []series{{Name: "breached", Color: palette[3], Values: breached}}, ""),
		svgChart("Image sizes", labels, imgSeries, "bytes"),
		svgChart("Packages", labels, []series{{Name: "binary packages", Color: palette[0], Values: pkgs}}, ""),
	}
	var b bytes.Buffer
	if err := dashTmpl().Execute(&b, d); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, DashboardFile), b.Bytes(), 0o644)
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}
