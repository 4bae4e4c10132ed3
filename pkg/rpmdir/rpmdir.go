// Package rpmdir lists the binary packages of a repository directory tree
// (path, size, mtime): what `keel repo index` compares with its state file
// to find the packages it must read again.
package rpmdir

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// File is a binary package found under the directory.
type File struct {
	Href        string // slash-separated, relative to the directory
	Size, Mtime int64
}

// List walks dir and returns its binary packages (*.rpm but not *.src.rpm,
// regular files, not in dot directories or under skip), sorted by Href.
// Names starting with "." and the name skip are ignored at every level;
// symbolic links are not followed.
func List(dir, skip string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") || name == skip {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(name, ".rpm") || strings.HasSuffix(name, ".src.rpm") {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since it was listed
		} else if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, File{filepath.ToSlash(rel), fi.Size(), fi.ModTime().Unix()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Href, b.Href) })
	return files, nil
}
