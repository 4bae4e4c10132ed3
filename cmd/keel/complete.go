package main

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// attachCompletions gives commands dynamic shell completion of their
// arguments: package names (build, sources), image names (image build) and
// release versions (release promote, diff), read from the tree (-C) and the
// releases directory (--releases) on the command line being completed.
func attachCompletions(a *app, root *cobra.Command) {
	packages := completeWith(func(*cobra.Command) []string {
		d, err := a.distro()
		if err != nil {
			return nil
		}
		names, _ := d.PackageNames()
		return names
	})
	images := completeWith(func(*cobra.Command) []string {
		d, err := a.distro()
		if err != nil {
			return nil
		}
		defs, _ := image.List(filepath.Join(d.Dir, "images"))
		var names []string
		for _, def := range defs {
			names = append(names, def.Name)
		}
		return names
	})
	releases := completeWith(func(c *cobra.Command) []string {
		dir := "releases"
		if f := c.Flag("releases"); f != nil {
			dir = f.Value.String()
		}
		idx, err := manifest.ReadIndex(dir)
		if err != nil {
			return nil
		}
		var vs []string
		for _, e := range idx.Releases {
			vs = append(vs, e.Version)
		}
		return vs
	})
	for path, f := range map[string]cobra.CompletionFunc{
		"build": packages, "sources fetch": packages, "sources pin": packages,
		"image build": images, "release promote": releases, "release diff": releases,
	} {
		if c, _, err := root.Find(strings.Fields(path)); err == nil && c != root {
			c.ValidArgsFunction = f
		}
	}
}

// completeWith offers the names not already on the command line.
func completeWith(names func(*cobra.Command) []string) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		seen := map[string]bool{}
		for _, a := range args {
			seen[a] = true
		}
		var out []cobra.Completion
		for _, n := range names(c) {
			if !seen[n] && strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
