// Package rootfs is Keel's file API inside an image root. Paths resolve as
// the image itself resolves them (an absolute symlink target starts at the
// image root, ".." never climbs above it) and every operation goes through
// an os.Root, which the kernel confines to the root's directory: no symlink
// a package planted, from one package or several, leads to the build host.
// Code that works on an image root uses this package and os.Root, never
// path-based os calls (pkg/image's TestConfinedFileAPI enforces it).
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MaxHops bounds symlink chains (Linux's own limit).
const MaxHops = 40

// Link is a symlink met while resolving: Path is root-relative with a
// leading slash.
type Link struct{ Path, Target string }

// EscapeError is a path whose resolution leaves the root; Chain lists the
// symlinks followed, outermost first.
type EscapeError struct {
	Path  string
	Chain []Link
}

func (e *EscapeError) Error() string { return e.Path + " resolves outside the root" + e.Via() }

// Clean turns an image path ("/etc/passwd", "etc/passwd") into the
// root-relative form os.Root takes ("etc/passwd"; "." for the root),
// refusing ".." components.
func Clean(p string) (string, error) {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", fmt.Errorf("%s: path contains '..'", p)
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// ErrTooManyLinks is a symlink chain longer than MaxHops.
var ErrTooManyLinks = errors.New("too many levels of symlinks")

// Via describes the chain (" via /a -> b, /b -> ..").
func (e *EscapeError) Via() string {
	var b strings.Builder
	for i, l := range e.Chain {
		if i == 0 {
			b.WriteString(" via ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s -> %s", l.Path, l.Target)
	}
	return b.String()
}

// Tree is what resolution reads, and writes when it creates missing
// directories: an os.Root (InRoot), or payload extraction's own view,
// which works by path on the symlink-free paths this returns.
type Tree struct {
	Lstat    func(rel string) (fs.FileInfo, error)
	Readlink func(rel string) (string, error)
	// Mkdir, when set, creates missing directories (and a file where a
	// directory belongs is an error); otherwise a missing tail resolves
	// lexically.
	Mkdir func(rel string) error
}

// InRoot is r's tree.
func InRoot(r *os.Root) Tree { return Tree{Lstat: r.Lstat, Readlink: r.Readlink} }

// Resolve returns rel's symlink-free root-relative form ("." is the root),
// following every component as the image would. A missing tail resolves
// lexically. Escaping the root is an *EscapeError.
func Resolve(r *os.Root, rel string) (string, error) {
	cur, err := InRoot(r).ResolveFrom("", rel)
	if err != nil {
		var ee *EscapeError
		if errors.As(err, &ee) {
			ee.Path = "/" + strings.TrimPrefix(rel, "/")
		}
		return "", err
	}
	if cur == "" {
		return ".", nil
	}
	return cur, nil
}

// ResolveParent resolves rel's parent directories but not its last
// component, which operations then act on itself (a symlink is removed or
// replaced, never followed).
func ResolveParent(r *os.Root, rel string) (string, error) {
	c, err := Clean(rel)
	if err != nil || c == "." {
		return c, err
	}
	dir, base := path.Split(c)
	d, err := Resolve(r, dir)
	if err != nil {
		return "", err
	}
	return path.Join(d, base), nil
}

// ResolveFrom resolves rel (a path or a symlink's target) from the
// directory dir ("" is the root) and returns its symlink-free
// root-relative form ("" is the root).
func (t Tree) ResolveFrom(dir, rel string) (string, error) {
	var chain []Link
	return t.resolveFrom(dir, rel, &chain, 0)
}

func (t Tree) resolveFrom(cur, rel string, chain *[]Link, hops int) (string, error) {
	if strings.HasPrefix(rel, "/") {
		cur = "" // absolute targets mean the image root, never the host's
	}
	comps := strings.Split(rel, "/")
	for i, c := range comps {
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", &EscapeError{Chain: append([]Link(nil), *chain...)}
			}
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		fi, err := t.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if t.Mkdir != nil {
				if err := t.Mkdir(next); err != nil {
					return "", err
				}
			}
			cur = next
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			if hops >= MaxHops {
				return "", fmt.Errorf("/%s: %w", next, ErrTooManyLinks)
			}
			dest, err := t.Readlink(next)
			if err != nil {
				return "", err
			}
			*chain = append(*chain, Link{"/" + next, dest})
			if cur, err = t.resolveFrom(cur, dest, chain, hops+1); err != nil {
				return "", err
			}
		case fi.IsDir():
			cur = next
		default:
			if i < len(comps)-1 || t.Mkdir != nil {
				return "", fmt.Errorf("/%s is not a directory", next)
			}
			cur = next
		}
	}
	return cur, nil
}

// FirstLink returns the first component of rel (parents, and the last one
// too when last is set) that is a symlink, or nil: for the files Keel owns
// in an image, where any planted link is refused rather than followed.
func FirstLink(r *os.Root, rel string, last bool) (*Link, error) {
	c, err := Clean(rel)
	if err != nil || c == "." {
		return nil, err
	}
	comps := strings.Split(c, "/")
	if !last {
		comps = comps[:len(comps)-1]
	}
	cur := ""
	for _, comp := range comps {
		cur = path.Join(cur, comp)
		fi, err := r.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			dest, err := r.Readlink(cur)
			if err != nil {
				return nil, err
			}
			return &Link{"/" + cur, dest}, nil
		}
	}
	return nil, nil
}

// dirFD runs f with a descriptor of rel's parent directory (opened through
// r) and rel's last component: the *at system calls os.Root lacks.
func dirFD(r *os.Root, rel string, f func(fd int, base string) error) error {
	dir, base := path.Split(rel)
	if dir == "" {
		dir = "."
	}
	d, err := r.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return f(int(d.Fd()), base)
}

// Lchtimes sets rel's access and modification times without following a
// final symlink (the root itself is ".").
func Lchtimes(r *os.Root, rel string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	if rel == "." {
		return dirFD(r, ".", func(fd int, _ string) error { return unix.UtimesNanoAt(fd, ".", ts, 0) })
	}
	return dirFD(r, rel, func(fd int, base string) error {
		return pathErr("lchtimes", rel, unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW))
	})
}

// Mknod creates a device node, FIFO or socket at rel (its parent must
// exist and be a real directory).
func Mknod(r *os.Root, rel string, mode uint32, dev int) error {
	return dirFD(r, rel, func(fd int, base string) error {
		return pathErr("mknod", rel, unix.Mknodat(fd, base, mode, dev))
	})
}

// MoveIn renames the file src (outside any image root: Keel's own staging)
// to rel in r, replacing what is there: rel's parent is opened through r,
// so the file lands inside the root whatever links its path holds.
func MoveIn(src string, r *os.Root, rel string) error {
	sdir, sbase := path.Split(src)
	if sdir == "" {
		sdir = "."
	}
	s, err := os.Open(sdir) //keel:host Keel's own staging directory, outside the image root
	if err != nil {
		return err
	}
	defer s.Close()
	return dirFD(r, rel, func(fd int, base string) error {
		return pathErr("rename", rel, unix.Renameat(int(s.Fd()), sbase, fd, base))
	})
}

func pathErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// Escapes walks the whole tree and returns every symlink whose target,
// resolved as the image would, leaves the root (chains across links from
// different packages included), in walk order.
func Escapes(r *os.Root) ([]*EscapeError, error) {
	var out []*EscapeError
	err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		dest, err := r.Readlink(p)
		if err != nil {
			return err
		}
		chain := []Link{{"/" + p, dest}}
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		if _, err := InRoot(r).resolveFrom(dir, dest, &chain, 1); err != nil {
			var ee *EscapeError
			if !errors.As(err, &ee) {
				return fmt.Errorf("symlink /%s -> %s: %w", p, dest, err)
			}
			ee.Path = "/" + p
			out = append(out, ee)
		}
		return nil
	})
	return out, err
}
