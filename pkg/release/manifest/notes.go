package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"

	"github.com/keel-linux/keel/pkg/kconfig"
)

// Notes is notes.json, the structured source of notes.md and index.html.
type Notes struct {
	Distro   string          `json:"distro"` // the distribution's human name (Manifest.Title)
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
	// Upgrading is the upgrade assessment from the previous release (keel
	// assess upgrade), when there is one.
	Upgrading *Upgrading `json:"upgrading,omitempty"`
}

// Upgrading is "Upgrading from the previous release": the risk and its
// summary lines, and the new line's support dates.
type Upgrading struct {
	From                 string         `json:"from"`
	Risk                 string         `json:"risk"` // none | low | medium | high
	Summary              []UpgradeIssue `json:"summary"`
	EndOfSecuritySupport string         `json:"end_of_security_support,omitempty"`
	EndOfLife            string         `json:"end_of_life,omitempty"`
}

// UpgradeIssue is one line of the upgrade summary.
type UpgradeIssue struct {
	Risk string `json:"risk"`
	Text string `json:"text"`
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

// CompareDirs computes notes for cur against prev (nil for the first
// release), reading kernel configs the manifests do not hold in memory from
// the releases' (or snapshots') directories.
func CompareDirs(prevDir string, prev *Manifest, curDir string, cur *Manifest) *Notes {
	n := &Notes{Distro: cur.Title(), Version: cur.Version, Date: cur.Date, Channel: cur.Channel, Security: cur.Security, Gates: cur.Gates,
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
		newCfg := k.Parsed
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
	sort.Slice(n.Kernels, func(i, j int) bool { return n.Kernels[i].Package < n.Kernels[j].Package })
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
	return CompareDirs(a, ma, b, mb), nil
}

// ReadNotes loads dir/notes.json.
func ReadNotes(dir string) (*Notes, error) {
	data, err := os.ReadFile(filepath.Join(dir, NotesJSON))
	if err != nil {
		return nil, err
	}
	var n Notes
	return &n, json.Unmarshal(data, &n)
}
