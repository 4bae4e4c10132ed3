// Package atomicfile writes and copies files so that a reader, or a crash,
// sees the old content or the new, never half of it: a temporary file beside
// the target, fsync, rename, fsync of the directory (github.com/google/renameio
// does the first three). On error nothing is left behind.
package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write fills a temporary file beside path through fill and renames it over
// path with the permission bits mode.
func Write(path string, mode fs.FileMode, fill func(*os.File) error) error {
	pf, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(mode))
	if err != nil {
		return err
	}
	defer pf.Cleanup() // no-op once replaced
	if err := fill(pf.File); err != nil {
		return err
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Copy replaces dst with a copy of src, with src's permission bits.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	return Write(dst, st.Mode().Perm(), func(f *os.File) error {
		_, err := io.Copy(f, in)
		return err
	})
}

// SyncTree fsyncs every regular file and directory under dir (symbolic
// links are not followed): what a tree staged by plain writes needs before
// it is renamed into place.
func SyncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !(de.IsDir() || de.Type().IsRegular()) {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// SyncDir fsyncs a directory: what makes a rename or a new link in it durable.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
