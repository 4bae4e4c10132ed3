package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli and docs/man from the commands (make docs)")

// TestCLIDocs regenerates the Markdown reference (docs/cli) and the man
// pages (docs/man) from the commands into a temporary directory and
// compares them with the checked-in ones: a flag or help text changed
// without `make docs` fails here, in CI.
func TestCLIDocs(t *testing.T) {
	root := filepath.Join("..", "..", "docs")
	tmp := t.TempDir()
	if err := genDocs(newRootCmd(&app{}), filepath.Join(tmp, "cli"), filepath.Join(tmp, "man")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"cli", "man"} {
		got, want := readTree(t, filepath.Join(tmp, sub)), readTree(t, filepath.Join(root, sub))
		if *updateDocs {
			os.RemoveAll(filepath.Join(root, sub))
			os.MkdirAll(filepath.Join(root, sub), 0o755)
			for name, data := range got {
				if err := os.WriteFile(filepath.Join(root, sub, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for name := range want {
			if _, ok := got[name]; !ok {
				t.Errorf("docs/%s/%s documents a command that no longer exists (make docs)", sub, name)
			}
		}
		for _, name := range sortedNames(got) {
			if w, ok := want[name]; !ok {
				t.Errorf("docs/%s/%s is missing (make docs)", sub, name)
			} else if !bytes.Equal(w, got[name]) {
				t.Errorf("docs/%s/%s is out of date with the command (make docs)", sub, name)
			}
		}
	}
}

// genDocs writes one Markdown page and one man page per command. Dates and
// the auto-generated footer are left out so the output depends only on the
// commands.
func genDocs(root *cobra.Command, mdDir, manDir string) error {
	// Cobra adds these on the first Execute; add them now so the pages do
	// not depend on which test ran first.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for _, d := range []string{mdDir, manDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, mdDir); err != nil {
		return err
	}
	// Man pages go through Markdown, where <out> or <name> would be an HTML
	// tag and vanish: escape them for the man pages only.
	var restore []func()
	var esc func(*cobra.Command)
	esc = func(c *cobra.Command) {
		long, short := c.Long, c.Short
		restore = append(restore, func() { c.Long, c.Short = long, short })
		c.Long, c.Short = strings.ReplaceAll(long, "<", `\<`), strings.ReplaceAll(short, "<", `\<`)
		for _, s := range c.Commands() {
			esc(s)
		}
	}
	esc(root)
	defer func() {
		for _, r := range restore {
			r()
		}
	}()
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return doc.GenManTree(root, &doc.GenManHeader{Title: "KEEL", Section: "1", Source: "Keel", Manual: "Keel Manual", Date: &date}, manDir)
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

func sortedNames(m map[string][]byte) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
