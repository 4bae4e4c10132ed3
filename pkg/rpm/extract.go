package rpm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keel-linux/keel/pkg/cpio"
	"github.com/keel-linux/keel/pkg/rootfs"
)

// ExtractPolicy says what a payload may contain beyond plain files,
// directories and in-root relative symlinks.
type ExtractPolicy struct {
	// Package names the package in errors (ExtractPackage sets it).
	Package string
	// AllowSetuid lists package paths ("/usr/bin/su") that may carry the
	// setuid or setgid bit; "*" allows any.
	AllowSetuid []string
	// AllowDevices permits device nodes, FIFOs and sockets (created with mknod).
	AllowDevices bool
	// AllowAbsoluteSymlinks permits symlinks with absolute targets; they are
	// never followed during extraction (paths resolve relative to root).
	AllowAbsoluteSymlinks bool
	// Chown applies the archive's numeric owners (needs root).
	Chown bool
}

// ErrUnsafe marks a payload entry refused by the extraction policy.
var ErrUnsafe = errors.New("unsafe payload entry")

// ExtractError names the package and the archive path that failed.
type ExtractError struct {
	Package string
	Path    string
	Err     error
}

func (e *ExtractError) Error() string {
	p := e.Package
	if p == "" {
		p = "payload"
	}
	return fmt.Sprintf("%s: %s: %v", p, e.Path, e.Err)
}

func (e *ExtractError) Unwrap() error { return e.Err }

func unsafeErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, a...))
}

// ExtractPackage extracts p's payload under root with policy.
func ExtractPackage(ctx context.Context, p *Package, root string, policy ExtractPolicy) error {
	if policy.Package == "" {
		policy.Package = p.NEVRA()
	}
	pl, err := p.Payload()
	if err != nil {
		return err
	}
	defer pl.Close()
	return Extract(ctx, pl, root, policy)
}

type extractor struct {
	root     string
	policy   ExtractPolicy
	links    map[[3]uint32][]string // hard-link sets waiting for their data
	symlinks []string               // created symlinks, re-checked at the end
}

// Extract unpacks a decompressed cpio payload under root (which must exist).
// It refuses entries that would write or point outside root, device nodes
// and setuid/setgid files unless policy allows them. On error root may hold
// a partial tree: extract into a fresh directory.
func Extract(ctx context.Context, archive io.Reader, root string, policy ExtractPolicy) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("extract: root %s is not a directory", root)
	}
	x := &extractor{root: root, policy: policy, links: map[[3]uint32][]string{}}
	cr := cpio.NewReader(archive)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &ExtractError{Package: policy.Package, Path: "(archive)", Err: err}
		}
		if err := x.entry(e, cr); err != nil {
			return &ExtractError{Package: policy.Package, Path: displayPath(e.Name), Err: err}
		}
	}
	// Hard-link sets whose data never came are empty files (rpm does the same).
	for _, names := range x.links {
		if err := x.writeFile(names, 0o644, nil, nil); err != nil {
			return &ExtractError{Package: policy.Package, Path: "/" + names[0], Err: err}
		}
	}
	// Links created later can change how earlier ones resolve: check all
	// of them once the tree is complete.
	for _, l := range x.symlinks {
		if _, err := x.resolve(l, false); err != nil {
			return &ExtractError{Package: policy.Package, Path: "/" + l, Err: err}
		}
	}
	return nil
}

func displayPath(name string) string {
	return "/" + strings.TrimPrefix(strings.TrimPrefix(name, "."), "/")
}

// cleanName turns an archive name into a root-relative path, refusing '..'.
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimLeft(n, "/")
	var parts []string
	for _, c := range strings.Split(n, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", unsafeErr("path contains '..'")
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "/"), nil
}

func (x *extractor) setuidAllowed(rel string) bool {
	for _, p := range x.policy.AllowSetuid {
		if p == "*" || strings.TrimPrefix(p, "/") == rel {
			return true
		}
	}
	return false
}

func (x *extractor) entry(e *cpio.Entry, data io.Reader) error {
	rel, err := cleanName(e.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil // the root itself
	}
	typ := e.Mode & 0o170000
	if e.Mode&0o6000 != 0 && !x.setuidAllowed(rel) {
		return unsafeErr("mode %04o has setuid/setgid, not allowed by policy", e.Mode&0o7777)
	}
	dir, base := path.Split(rel)
	pdir, err := x.resolve(strings.TrimSuffix(dir, "/"), true)
	if err != nil {
		return err
	}
	target := path.Join(pdir, base)
	abs := filepath.Join(x.root, filepath.FromSlash(target))
	perm := e.Mode & 0o7777
	switch typ {
	case 0o040000:
		fi, err := os.Lstat(abs)
		switch {
		case err == nil && fi.IsDir():
		case err == nil && fi.Mode()&os.ModeSymlink != 0:
			// A directory replaced by an in-root symlink stays a symlink (rpm keeps it).
			if _, err := x.resolve(target, false); err != nil {
				return err
			}
			return nil
		case err == nil:
			if err := os.Remove(abs); err != nil {
				return err
			}
			fallthrough
		default:
			if err := os.Mkdir(abs, 0o700); err != nil {
				return err
			}
		}
		return x.finish(abs, e, perm)
	case 0o100000:
		if e.Nlink > 1 {
			key := [3]uint32{e.Ino, e.DevMajor, e.DevMinor}
			x.links[key] = append(x.links[key], target)
			if len(x.links[key]) > 65536 {
				return unsafeErr("hard-link set too large")
			}
			if e.Size == 0 {
				return nil // data comes with the last link of the set
			}
			names := x.links[key]
			delete(x.links, key)
			return x.writeFile(names, perm, data, e)
		}
		return x.writeFile([]string{target}, perm, data, e)
	case 0o120000:
		if e.Size > 4095 {
			return unsafeErr("symlink target of %d bytes", e.Size)
		}
		buf := make([]byte, e.Size)
		if _, err := io.ReadFull(data, buf); err != nil {
			return fmt.Errorf("symlink target: %w", noEOF(err))
		}
		dest := string(buf)
		if dest == "" || strings.IndexByte(dest, 0) >= 0 {
			return unsafeErr("empty or NUL-containing symlink target")
		}
		if strings.HasPrefix(dest, "/") {
			if !x.policy.AllowAbsoluteSymlinks {
				return unsafeErr("absolute symlink to %s", dest)
			}
		} else if _, err := x.resolveFrom(pdir, dest, false); err != nil {
			return fmt.Errorf("symlink to %s: %w", dest, err)
		}
		if err := removeNonDir(abs); err != nil {
			return err
		}
		if err := os.Symlink(dest, abs); err != nil {
			return err
		}
		x.symlinks = append(x.symlinks, target)
		if x.policy.Chown {
			if err := os.Lchown(abs, int(e.UID), int(e.GID)); err != nil {
				return err
			}
		}
		return nil // a symlink's own mtime does not matter to rpm
	case 0o020000, 0o060000, 0o010000, 0o140000:
		if !x.policy.AllowDevices {
			return unsafeErr("device node/FIFO/socket (mode %06o) not allowed by policy", e.Mode)
		}
		if err := removeNonDir(abs); err != nil {
			return err
		}
		dev := mkdev(e.RdevMaj, e.RdevMin)
		if err := syscall.Mknod(abs, e.Mode, int(dev)); err != nil {
			return err
		}
		return x.finish(abs, e, perm)
	}
	return unsafeErr("unknown file type (mode %06o)", e.Mode)
}

func mkdev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

func removeNonDir(abs string) error {
	fi, err := os.Lstat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	return os.Remove(abs)
}

// writeFile writes data to the first name and hard-links the others to it.
func (x *extractor) writeFile(names []string, perm uint32, data io.Reader, e *cpio.Entry) error {
	first := filepath.Join(x.root, filepath.FromSlash(names[0]))
	if err := removeNonDir(first); err != nil {
		return err
	}
	f, err := os.OpenFile(first, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if data != nil && e != nil {
		if _, err := io.CopyN(f, data, int64(e.Size)); err != nil {
			f.Close()
			return fmt.Errorf("file data: %w", noEOF(err))
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	ent := e
	if ent == nil {
		ent = &cpio.Entry{}
	}
	if err := x.finish(first, ent, perm); err != nil {
		return err
	}
	for _, n := range names[1:] {
		abs := filepath.Join(x.root, filepath.FromSlash(n))
		if err := removeNonDir(abs); err != nil {
			return err
		}
		if err := os.Link(first, abs); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) finish(abs string, e *cpio.Entry, perm uint32) error {
	if x.policy.Chown {
		if err := os.Lchown(abs, int(e.UID), int(e.GID)); err != nil {
			return err
		}
	}
	// chmod after chown: chown clears setuid bits.
	mode := os.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if perm&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if perm&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	if err := os.Chmod(abs, mode); err != nil {
		return err
	}
	mt := time.Unix(int64(e.Mtime), 0)
	return os.Chtimes(abs, mt, mt)
}

// resolve follows rel (root-relative, no leading slash) inside the root and
// returns its symlink-free root-relative form. With create, missing
// components are made as directories (0755); without, a missing tail is
// resolved lexically. Any step above the root is refused.
func (x *extractor) resolve(rel string, create bool) (string, error) {
	return x.resolveFrom("", rel, create)
}

// resolveFrom resolves with rootfs's resolver (the one Keel uses in image
// roots after extraction), on paths it has itself made symlink-free.
func (x *extractor) resolveFrom(cur, rel string, create bool) (string, error) {
	abs := func(rel string) string { return filepath.Join(x.root, filepath.FromSlash(rel)) }
	t := rootfs.Tree{
		Lstat:    func(rel string) (os.FileInfo, error) { return os.Lstat(abs(rel)) },
		Readlink: func(rel string) (string, error) { return os.Readlink(abs(rel)) },
	}
	if create {
		t.Mkdir = func(rel string) error { return os.Mkdir(abs(rel), 0o755) }
	}
	r, err := t.ResolveFrom(cur, rel)
	var ee *rootfs.EscapeError
	switch {
	case errors.As(err, &ee):
		return "", unsafeErr("resolves outside the root%s", ee.Via())
	case errors.Is(err, rootfs.ErrTooManyLinks):
		return "", unsafeErr("%v", err)
	}
	return r, err
}
