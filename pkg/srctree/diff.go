package srctree

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/rpm"
)

// Diff is what changed between two source trees.
type Diff struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Sources  []SourceChange  `json:"sources"` // changed source packages only
	Kernels  []KernelChange  `json:"kernel_configs"`
	Problems []SideProblem   `json:"problems"` // specs either side could not read fully
	Counts   map[string]int  `json:"counts"`
	Binaries []BinaryRemoval `json:"binaries_removed"` // binary packages gone from the whole tree
}

// SourceChange is one source package added, removed or changed.
type SourceChange struct {
	Name   string `json:"name"`
	Change string `json:"change"` // added | removed | upgraded | downgraded | changed (same EVR, other evidence)
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	// PackagesAdded and PackagesRemoved are binary packages of this spec.
	PackagesAdded   []string `json:"packages_added,omitempty"`
	PackagesRemoved []string `json:"packages_removed,omitempty"`
	PatchesAdded    []string `json:"cve_patches_added,omitempty"`
	PatchesDropped  []string `json:"cve_patches_dropped,omitempty"`
	NoPatchAdded    []string `json:"nopatch_added,omitempty"`
	NoPatchDropped  []string `json:"nopatch_dropped,omitempty"`
	// ChangelogCVEs are CVE IDs the new %changelog mentions and the old did not.
	ChangelogCVEs []string `json:"changelog_cves_added,omitempty"`
}

// BinaryRemoval is a binary package no spec of the new tree builds.
type BinaryRemoval struct {
	Name   string `json:"name"`
	Source string `json:"source"` // the old tree's spec
}

// KernelChange is one kernel config file and its option changes.
type KernelChange struct {
	Path    string           `json:"path"`
	Change  string           `json:"change"` // added | removed | changed
	Options []kconfig.Change `json:"options"`
	// TurnedOff are options built in or modular before and off or absent now.
	TurnedOff []string `json:"turned_off,omitempty"`
}

// SideProblem is a Problem of one side.
type SideProblem struct {
	Side string `json:"side"` // from | to
	Problem
}

// Compare lists what changed from a to b.
func Compare(a, b *Tree) *Diff {
	d := &Diff{From: a.Dir, To: b.Dir, Sources: []SourceChange{}, Kernels: []KernelChange{}, Problems: []SideProblem{}, Binaries: []BinaryRemoval{}}
	names := map[string]bool{}
	for n := range a.Sources {
		names[n] = true
	}
	for n := range b.Sources {
		names[n] = true
	}
	newBin := map[string]bool{}
	for _, s := range b.Sources {
		for _, p := range s.Packages {
			newBin[p] = true
		}
	}
	counts := map[string]int{}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		o, nw := a.Sources[n], b.Sources[n]
		c := SourceChange{Name: n}
		switch {
		case o == nil:
			c.Change, c.New, c.PackagesAdded = "added", nw.EVR, nw.Packages
			c.PatchesAdded, c.NoPatchAdded, c.ChangelogCVEs = nw.Patches, nw.NoPatch, nw.Changelog
		case nw == nil:
			c.Change, c.Old, c.PackagesRemoved = "removed", o.EVR, o.Packages
		default:
			c.Old, c.New = o.EVR, nw.EVR
			c.PackagesAdded, c.PackagesRemoved = setDiff(nw.Packages, o.Packages), setDiff(o.Packages, nw.Packages)
			c.PatchesAdded, c.PatchesDropped = setDiff(nw.Patches, o.Patches), setDiff(o.Patches, nw.Patches)
			c.NoPatchAdded, c.NoPatchDropped = setDiff(nw.NoPatch, o.NoPatch), setDiff(o.NoPatch, nw.NoPatch)
			c.ChangelogCVEs = setDiff(nw.Changelog, o.Changelog)
			switch cmp := compareEVR(o.EVR, nw.EVR); {
			case cmp < 0:
				c.Change = "upgraded"
			case cmp > 0:
				c.Change = "downgraded"
			case len(c.PackagesAdded)+len(c.PackagesRemoved)+len(c.PatchesAdded)+len(c.PatchesDropped)+
				len(c.NoPatchAdded)+len(c.NoPatchDropped)+len(c.ChangelogCVEs) > 0:
				c.Change = "changed"
			default:
				counts["unchanged"]++
				continue
			}
		}
		counts[c.Change]++
		counts["cve_patches_added"] += len(c.PatchesAdded)
		counts["cve_patches_dropped"] += len(c.PatchesDropped)
		counts["nopatch_added"] += len(c.NoPatchAdded)
		counts["nopatch_dropped"] += len(c.NoPatchDropped)
		if o != nil {
			for _, p := range o.Packages {
				if !newBin[p] {
					d.Binaries = append(d.Binaries, BinaryRemoval{Name: p, Source: n})
				}
			}
		}
		d.Sources = append(d.Sources, c)
	}
	counts["from_sources"], counts["to_sources"] = len(a.Sources), len(b.Sources)
	counts["from_specs"], counts["to_specs"] = a.Specs, b.Specs
	counts["binaries_removed"] = len(d.Binaries)
	paths := map[string]bool{}
	for p := range a.Kernels {
		paths[p] = true
	}
	for p := range b.Kernels {
		paths[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		o, nw := a.Kernels[p], b.Kernels[p]
		k := KernelChange{Path: p, Change: "changed"}
		switch {
		case o == nil:
			k.Change, o = "added", kconfig.Config{}
		case nw == nil:
			k.Change, nw = "removed", kconfig.Config{}
		}
		k.Options = kconfig.Diff(o, nw)
		if k.Change == "changed" && len(k.Options) == 0 {
			continue
		}
		if k.Change == "changed" {
			k.TurnedOff = TurnedOff(k.Options)
		}
		if k.Options == nil {
			k.Options = []kconfig.Change{}
		}
		counts["kernel_options_changed"] += len(k.Options)
		counts["kernel_options_turned_off"] += len(k.TurnedOff)
		d.Kernels = append(d.Kernels, k)
	}
	for _, p := range a.Problems {
		d.Problems = append(d.Problems, SideProblem{Side: "from", Problem: p})
	}
	for _, p := range b.Problems {
		d.Problems = append(d.Problems, SideProblem{Side: "to", Problem: p})
	}
	counts["problems"] = len(d.Problems)
	d.Counts = counts
	return d
}

// TurnedOff lists the options of cs that were y or m and are now n or absent.
func TurnedOff(cs []kconfig.Change) []string {
	var out []string
	for _, c := range cs {
		if (c.Old == "y" || c.Old == "m") && (c.New == "" || c.New == "n") {
			out = append(out, c.Option)
		}
	}
	return out
}

// compareEVR orders two [epoch:]version-release strings as rpm does;
// unparsable ones compare as text.
func compareEVR(a, b string) int {
	ea, err1 := rpm.ParseEVR(a)
	eb, err2 := rpm.ParseEVR(b)
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	return rpm.Compare(ea, eb)
}

// setDiff is a minus b (both sorted).
func setDiff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// WriteText prints the diff for people: the counts, then one line per
// changed source package, kernel config changes, and the specs read only in part.
func (d *Diff) WriteText(w io.Writer) {
	c := d.Counts
	fmt.Fprintf(w, "source trees %s → %s: %d → %d source packages (%d → %d specs)\n", d.From, d.To,
		c["from_sources"], c["to_sources"], c["from_specs"], c["to_specs"])
	fmt.Fprintf(w, "  %d upgraded, %d downgraded, %d added, %d removed, %d changed otherwise, %d unchanged; %d binary packages gone\n",
		c["upgraded"], c["downgraded"], c["added"], c["removed"], c["changed"], c["unchanged"], c["binaries_removed"])
	fmt.Fprintf(w, "  CVE patches: %d added, %d dropped; .nopatch: %d added, %d dropped; kernel options: %d changed, %d turned off\n",
		c["cve_patches_added"], c["cve_patches_dropped"], c["nopatch_added"], c["nopatch_dropped"],
		c["kernel_options_changed"], c["kernel_options_turned_off"])
	if len(d.Sources) > 0 {
		fmt.Fprintln(w, "\nsource packages:")
	}
	for _, s := range d.Sources {
		ver := s.Old + " → " + s.New
		switch s.Change {
		case "added":
			ver = s.New
		case "removed":
			ver = s.Old
		}
		fmt.Fprintf(w, "  %-10s %s %s\n", s.Change, s.Name, ver)
		list := func(label string, v []string) {
			if len(v) > 0 {
				fmt.Fprintf(w, "             %s: %s\n", label, strings.Join(v, ", "))
			}
		}
		if s.Change != "added" && s.Change != "removed" {
			list("packages added", s.PackagesAdded)
			list("packages removed", s.PackagesRemoved)
		}
		list("CVE patches added", s.PatchesAdded)
		list("CVE patches dropped", s.PatchesDropped)
		list(".nopatch added", s.NoPatchAdded)
		list(".nopatch dropped", s.NoPatchDropped)
		list("changelog mentions", s.ChangelogCVEs)
	}
	for _, k := range d.Kernels {
		fmt.Fprintf(w, "\nkernel config %s (%s): %d options changed", k.Path, k.Change, len(k.Options))
		if len(k.TurnedOff) > 0 {
			fmt.Fprintf(w, ", %d turned off: %s", len(k.TurnedOff), strings.Join(clip(k.TurnedOff, 20), " "))
		}
		fmt.Fprintln(w)
	}
	if len(d.Problems) > 0 {
		fatal := 0
		for _, p := range d.Problems {
			if p.Fatal {
				fatal++
			}
		}
		fmt.Fprintf(w, "\n%d specs read in part (%d not at all; --json lists every message):\n", len(d.Problems), fatal)
		sort.SliceStable(d.Problems, func(i, j int) bool { return d.Problems[i].Fatal && !d.Problems[j].Fatal })
		for i, p := range d.Problems {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more\n", len(d.Problems)-20)
				break
			}
			fmt.Fprintf(w, "  %s %s: %s\n", p.Side, p.File, p.Messages[0])
		}
	}
}

func clip(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("… +%d", len(s)-n))
}
