package image

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

// Packages whose code handles an image root.
var rootPackages = []string{"pkg/image", "pkg/rootfs", "pkg/rpm", "pkg/rpmdb", "pkg/baseline", "pkg/oci", "pkg/sbom", "pkg/initramfs"}

// Path-based calls: they resolve their path from the host's /, so a link
// planted in the image leads them out of it.
var pathCalls = map[string]map[string]bool{
	"os": set("Open", "OpenFile", "Create", "ReadFile", "WriteFile", "ReadDir", "Mkdir", "MkdirAll", "MkdirTemp",
		"CreateTemp", "Remove", "RemoveAll", "Rename", "Symlink", "Link", "Readlink", "Lstat", "Stat", "Chmod",
		"Chown", "Lchown", "Chtimes", "Truncate", "DirFS"),
	"filepath": set("Walk", "WalkDir", "Glob", "EvalSymlinks"),
	"syscall":  set("Mknod", "Open", "Stat", "Lstat", "Unlink", "Rename", "Symlink", "Link", "Chmod", "Chown", "Lchown", "Utimes"),
	"unix":     set("Mknod", "Open", "Stat", "Lstat", "Unlink", "Rename", "Symlink", "Link", "Chmod", "Chown", "Lchown", "Utimes", "Lutimes"),
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// rootAllowed are the path-based calls allowed in functions that handle an
// image root, by function, with the reason each is safe. Everything else
// that handles the root uses pkg/rootfs and os.Root.
var rootAllowed = map[string]struct{ calls, why string }{
	"pkg/image/build.go:build": {"os.MkdirAll os.MkdirTemp os.Mkdir os.RemoveAll os.WriteFile os.Chmod os.Lstat os.Rename",
		"creates the root directory and removes it whole (RemoveAll never follows a link inside it); the rest is on the " +
			"output and staging directories"},
	"pkg/image/build.go:Install": {"os.RemoveAll", "removes the rpm database's staging directory beside the root"},
	"pkg/image/bootable.go:writeBootable": {"os.MkdirTemp os.RemoveAll os.Open os.Create os.Rename",
		"the work and staging directories; the root itself is only handed to mkfs.ext4 -d and mkfs.erofs, which store links as links"},
	"pkg/rpm/extract.go:Extract": {"os.Stat", "checks that the extraction root is a directory"},
	"pkg/rpm/extract.go:entry": {"os.Lstat os.Remove os.Mkdir os.Symlink os.Lchown syscall.Mknod",
		"payload extraction: every parent is resolved inside the root first by the extractor's own resolver (resolveFrom), " +
			"and links are created, never followed; Install's checkClosed then checks the whole tree"},
	"pkg/rpm/extract.go:removeNonDir": {"os.Lstat os.Remove", "payload extraction (see entry): removes the entry itself"},
	"pkg/rpm/extract.go:writeFile":    {"os.OpenFile os.Link", "payload extraction (see entry): O_CREAT|O_EXCL|O_NOFOLLOW"},
	"pkg/rpm/extract.go:finish":       {"os.Lchown os.Chmod os.Chtimes", "payload extraction (see entry): on the entry just created (never a symlink)"},
	"pkg/rpm/extract.go:resolveFrom":  {"os.Lstat os.Mkdir os.Readlink", "the extractor's in-root resolver, on symlink-free paths"},
}

// rootNames are the names the image root goes by, as a path.
var rootNames = map[string]bool{"root": true, "rootDir": true, "abs": true}

// TestConfinedFileAPI fails when code that handles an image root uses a
// path-based os, filepath, syscall or unix call outside rootAllowed.
func TestConfinedFileAPI(t *testing.T) {
	repo := testenv.RepoRoot()
	used := map[string]bool{}
	var bad []string
	fset := token.NewFileSet()
	for _, pkg := range rootPackages {
		files, err := filepath.Glob(filepath.Join(repo, pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			rel := pkg + "/" + filepath.Base(file)
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				key := rel + ":" + fn.Name.Name
				if !mentionsRoot(fn) {
					continue
				}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					x, ok := sel.X.(*ast.Ident)
					if !ok || !pathCalls[x.Name][sel.Sel.Name] {
						return true
					}
					name := x.Name + "." + sel.Sel.Name
					if a, ok := rootAllowed[key]; ok && strings.Contains(" "+a.calls+" ", " "+name+" ") {
						used[key+":"+name] = true
						return true
					}
					bad = append(bad, fset.Position(call.Pos()).String()[len(repo)+1:]+": "+fn.Name.Name+" handles an image root but calls "+
						x.Name+"."+sel.Sel.Name+" (use pkg/rootfs and os.Root, or add it to rootAllowed with the reason it is safe)")
					return true
				})
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	for k, a := range rootAllowed {
		for _, c := range strings.Fields(a.calls) {
			if !used[k+":"+c] {
				t.Errorf("rootAllowed: %s no longer calls %s: drop it from the list", k, c)
			}
		}
	}
}

// mentionsRoot: fn takes or uses a variable or field named as the image
// root's path is throughout these packages (its confined form is an
// *os.Root, which this does not match).
func mentionsRoot(fn *ast.FuncDecl) bool {
	found := false
	ast.Inspect(fn, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && rootNames[id.Name] {
			found = true
		}
		return !found
	})
	return found
}
