package assess

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for people: the risk and its summary first,
// then one table per kind of change.
func (r *UpgradeReport) WriteText(w io.Writer) {
	name := func(s *side) string {
		switch {
		case s.Image != "" && s.Version != "":
			return s.Image + " of " + s.Version
		case s.Image != "":
			return s.Image + " (" + s.Path + ")"
		case s.Version != "":
			return s.Version
		}
		return s.Path
	}
	fmt.Fprintf(w, "upgrade %s → %s: risk %s\n", name(r.From), name(r.To), strings.ToUpper(r.Risk))
	for _, s := range r.Summary {
		fmt.Fprintf(w, "  %-6s %s\n", s.Risk, s.Text)
	}
	if su := r.Support; su != nil {
		fmt.Fprintf(w, "\nsupport (as of %s):\n", su.Day)
		for _, sp := range []struct {
			label string
			line  string
			state string
			sec   string
			eol   string
			days  int
		}{{"from", su.From.Line, su.From.State, su.From.SecurityEnd, su.From.EndOfLife, su.From.DaysToSecurityEnd},
			{"to", su.To.Line, su.To.State, su.To.SecurityEnd, su.To.EndOfLife, su.To.DaysToSecurityEnd}} {
			if sp.state == "unknown" {
				fmt.Fprintf(w, "  %-4s line %s: not in the lifecycle file\n", sp.label, sp.line)
				continue
			}
			fmt.Fprintf(w, "  %-4s line %s: %s; security support until %s (%d days), end of life %s\n", sp.label, sp.line, sp.state, sp.sec, sp.days, sp.eol)
		}
	}
	if len(r.Packages.Removed) > 0 {
		fmt.Fprintln(w, "\npackages gone:")
		for _, p := range r.Packages.Removed {
			by := ""
			if p.By != "" {
				by = " by " + p.By
			}
			fmt.Fprintf(w, "  %-24s %-20s %s%s\n", p.Name, p.Old, p.How, by)
		}
	}
	caps := func(title string, cs []Capability) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, c := range cs {
			now := ""
			if len(c.Now) > 0 {
				now = " (now: " + strings.Join(c.Now, ", ") + ")"
			}
			fmt.Fprintf(w, "  %-44s from %s%s\n", c.Name, c.Package, now)
		}
	}
	caps("sonames dropped", r.Sonames)
	caps("symbol versions dropped", r.SymbolVersions)
	if len(r.Kernels) > 0 {
		fmt.Fprintln(w, "\nkernels:")
		for _, k := range r.Kernels {
			fmt.Fprintf(w, "  %-12s %s → %s (%s → %s): %d options changed, %d turned off, %d turned on\n", k.Package,
				orUnset(k.Old), orUnset(k.New), orUnset(k.OldUnameR), orUnset(k.NewUnameR), k.Changed, len(k.TurnedOff), len(k.TurnedOn))
			if len(k.TurnedOff) > 0 {
				fmt.Fprintf(w, "               off: %s\n", list(k.TurnedOff))
			}
			for p, v := range k.Policy {
				fmt.Fprintf(w, "               policy %s: %s\n", p, v)
			}
		}
	}
	if len(r.Sysctl) > 0 {
		fmt.Fprintln(w, "\nsysctl defaults:")
		for _, s := range r.Sysctl {
			fmt.Fprintf(w, "  %-36s %s → %s (%s)\n", s.Key, orUnset(s.Old), orUnset(s.New), s.File)
		}
	}
	if len(r.Services) > 0 {
		fmt.Fprintln(w, "\nservices:")
		for _, s := range r.Services {
			fmt.Fprintf(w, "  %-8s %s: %s\n", s.Change, s.Image, s.Service)
		}
	}
	if len(r.Config) > 0 {
		fmt.Fprintln(w, "\nconfig files:")
		for _, c := range r.Config {
			nr := ""
			if c.NoReplace {
				nr = " (noreplace: a local edit is kept, the new one lands as .rpmnew)"
			}
			fmt.Fprintf(w, "  %-8s %s (%s)%s\n", c.Change, c.Path, c.Package, nr)
		}
	}
	if wl := r.Workload; wl != nil {
		fmt.Fprintf(w, "\nworkload %s: %d break(s) on the old side, %d on the new\n", wl.Image, wl.FromBreak, wl.ToBreak)
		for _, b := range wl.New {
			fmt.Fprintf(w, "  new    %s %s %s: %s\n", b.File, b.Kind, b.Need, b.Why)
		}
		for _, b := range wl.Fixed {
			fmt.Fprintf(w, "  gone   %s %s %s: %s\n", b.File, b.Kind, b.Need, b.Why)
		}
	}
	if r.Source != nil {
		fmt.Fprintln(w)
		r.Source.WriteText(w)
	}
}
