package image

// Hostile packages: once the payloads are extracted, every file operation
// in the image root goes through an os.Root (pkg/rootfs), and links a
// package planted are refused with the package named (files Keel reads or
// owns), or resolved as the image resolves them (remove:, reads of the
// image's own files); nothing follows a link out of the root.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/rootfs"
)

const noFollow = unix.O_NOFOLLOW

// owners maps image paths ("/etc/passwd") to the package shipping them.
type owners map[string]owner

// by names the package that shipped p.
func (o owners) by(p string) string {
	if w, ok := o[p]; ok {
		return "planted by " + w.pkg
	}
	return "which no package ships (made by a scriptlet?)"
}

// checkClosed is the pass after the last package: a symlink whose target,
// resolved as the image would, leaves the root is refused, with the package
// of each link in the chain (links from two packages can combine into an
// escape neither has alone).
func checkClosed(r *os.Root, own owners) error {
	esc, err := rootfs.Escapes(r)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range esc {
		l := e.Chain[0]
		msg := fmt.Sprintf("symlink %s -> %s (%s) resolves outside the root", l.Path, l.Target, own.pkgOf(l.Path))
		for i, c := range e.Chain[1:] {
			if i == 0 {
				msg += " via "
			} else {
				msg += ", "
			}
			msg += fmt.Sprintf("%s -> %s (%s)", c.Path, c.Target, own.pkgOf(c.Path))
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

func (o owners) pkgOf(p string) string {
	if w, ok := o[p]; ok {
		return w.pkg
	}
	return "no package"
}

// refuseLinks refuses rel (an image path) when it or, with parentsOnly, one
// of its parents is a symlink: for the files Keel reads and writes itself,
// where following a planted link would read or write the wrong file.
func refuseLinks(r *os.Root, own owners, rel, why string, parentsOnly bool) error {
	l, err := rootfs.FirstLink(r, rel, !parentsOnly)
	if err != nil || l == nil {
		return err
	}
	return fmt.Errorf("%s is a symlink (to %s) %s: %s", l.Path, l.Target, own.by(l.Path), why)
}

// writeOwned writes a file Keel owns in the image (its parents checked by
// the caller): a link in its place is replaced, never followed.
func writeOwned(r *os.Root, rel string, data []byte, mode os.FileMode) error {
	rel = strings.TrimPrefix(rel, "/")
	if err := r.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return err
	}
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.Chmod(rel, mode)
}

// removeIn removes an image path as the image's own rm -rf would: its
// parents resolve in the image (an absolute link starts at the image
// root), its last component is removed itself, never followed.
func removeIn(r *os.Root, p string) error {
	rel, err := rootfs.ResolveParent(r, p)
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	if rel == "." {
		return fmt.Errorf("remove %s: that is the whole image", p)
	}
	return r.RemoveAll(rel)
}

// readIn reads an image file as the image resolves its path; max > 0
// bounds its size (0: just check it is a regular file and return nothing).
func readIn(r *os.Root, p string, max int64) ([]byte, error) {
	f, err := openIn(r, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if max == 0 {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: larger than %d bytes", p, max)
	}
	return b, err
}

// openIn opens a regular image file as the image resolves its path.
func openIn(r *os.Root, p string) (*os.File, error) {
	rel, err := rootfs.Resolve(r, p)
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return f, nil
}

// copyOut copies an image file to dst on the host (Keel's work directory),
// for tools that take a path.
func copyOut(r *os.Root, p, dst string) error {
	f, err := openIn(r, p)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
