// Package rpmdir lists the binary packages of a repository directory tree
// (path, size, mtime), and can start that listing before it is asked for.
//
// On a one-package update of a 1,000-package repository, stat'ing every
// package was a fifth of keel's run. Prefetch lets the command line start
// the work on the second core while the binary is still initializing
// (cmd/keel/internal/early): take the repository's lock, then walk.
// TakeLock hands the held lock to the command, so the walk it then gets
// from Take was made under the command's own lock. This package imports
// only small leaf packages (not path/filepath, not golang.org/x/sys/unix),
// so that whoever starts it from an init function chooses when that init
// runs.
package rpmdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// File is a binary package found under the directory.
type File struct {
	Href        string // slash-separated, relative to the directory
	Size, Mtime int64
}

// List walks dir and returns its binary packages (*.rpm but not *.src.rpm,
// regular files, not in dot directories or under skip), sorted by Href.
// Names starting with "." and the name skip are ignored at every level.
func List(dir, skip string) ([]File, error) {
	w := walker{root: dir, skip: skip}
	if err := w.walk(""); err != nil {
		return nil, err
	}
	slices.SortFunc(w.files, func(a, b File) int { return strings.Compare(a.Href, b.Href) })
	return w.files, nil
}

type walker struct {
	root, skip string
	files      []File
	buf        []byte
}

func (w *walker) walk(rel string) error {
	dpath := path.Join(w.root, rel)
	fd, err := syscall.Open(dpath, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dpath, Err: err}
	}
	defer syscall.Close(fd)
	var subdirs []string
	var st syscall.Stat_t
	err = w.readDir(fd, dpath, func(nb []byte, typ byte) error {
		href := func() string {
			if rel != "" {
				return rel + "/" + string(nb)
			}
			return string(nb)
		}
		isRPM := bytes.HasSuffix(nb, []byte(".rpm")) && !bytes.HasSuffix(nb, []byte(".src.rpm"))
		switch typ {
		case syscall.DT_DIR:
			subdirs = append(subdirs, href())
			return nil
		case syscall.DT_REG:
			if !isRPM {
				return nil
			}
		case syscall.DT_UNKNOWN: // file systems without d_type: stat tells
		default:
			return nil // symlinks, devices, sockets: not packages
		}
		if err := fstatat(fd, nb, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return nil // removed since it was listed
			}
			return &fs.PathError{Op: "stat", Path: dpath + "/" + string(nb), Err: err}
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if typ == syscall.DT_UNKNOWN {
				subdirs = append(subdirs, href())
			}
		case syscall.S_IFREG:
			if isRPM {
				w.files = append(w.files, File{href(), st.Size, st.Mtim.Sec})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directories after the entries: the recursion reuses the buffer.
	for _, s := range subdirs {
		if err := w.walk(s); err != nil {
			return err
		}
	}
	return nil
}

// readDir calls fn for every entry of the open directory fd except ".",
// "..", dot names and w.skip, parsing linux_dirent64 records.
func (w *walker) readDir(fd int, dpath string, fn func(name []byte, typ byte) error) error {
	if w.buf == nil {
		w.buf = make([]byte, 32<<10)
	}
	for {
		n, err := syscall.Getdents(fd, w.buf)
		if err != nil {
			return fmt.Errorf("reading %s: %w", dpath, err)
		}
		if n <= 0 {
			return nil
		}
		for b := w.buf[:n]; len(b) >= 19; {
			// d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name NUL-terminated
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return fmt.Errorf("reading %s: malformed directory record", dpath)
			}
			typ := b[18]
			nb := b[19:reclen]
			if i := bytes.IndexByte(nb, 0); i >= 0 {
				nb = nb[:i]
			}
			b = b[reclen:]
			if len(nb) == 0 || nb[0] == '.' || string(nb) == w.skip {
				continue
			}
			if err := fn(nb, typ); err != nil {
				return err
			}
		}
	}
}

// fstatat is fstatat(2) without following a final symlink: the syscall
// package exports none, and golang.org/x/sys/unix is not a leaf (see the
// package comment). It is a raw system call (no
// hand-off of the P to the scheduler around it): a stat relative to an open
// directory returns in microseconds, and the runtime's enter/exit around a
// thousand of them cost as much CPU as the stats (1.3 ms per update).
func fstatat(dirfd int, name []byte, st *syscall.Stat_t) error {
	var buf [256]byte // NAME_MAX + NUL
	if len(name) >= len(buf) {
		return syscall.ENAMETOOLONG
	}
	copy(buf[:], name)
	_, _, e := syscall.RawSyscall6(sysFstatat, uintptr(dirfd), uintptr(unsafe.Pointer(&buf[0])),
		uintptr(unsafe.Pointer(st)), _AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

const _AT_SYMLINK_NOFOLLOW = 0x100

// absDir is filepath.Abs, without path/filepath (see the package comment).
func absDir(dir string) (string, error) {
	if strings.HasPrefix(dir, "/") {
		return path.Clean(dir), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return path.Join(wd, dir), nil
}

// prefetch is the one walk started ahead of time.
var prefetch struct {
	mu     sync.Mutex
	root   string // absolute; empty once taken
	locked chan struct{}
	done   chan struct{}
	lock   *os.File // nil when the lock file could not be opened or locked
	res    []File
	err    error
	handed bool // TakeLock gave the lock away: the walk is valid
}

// Prefetch starts in the background what a command on dir will do first:
// take the exclusive flock(2) on dir/lock (an existing file: none is
// created, and without it nothing is prefetched), then List(dir, skip).
// The walk is done under the caller's own lock, so it stays true until
// the caller lets go. Only the first call counts; it never fails, and
// whatever went wrong is redone by TakeLock and Take.
func Prefetch(dir, skip, lock string) {
	abs, err := absDir(dir)
	if err != nil {
		return
	}
	prefetch.mu.Lock()
	defer prefetch.mu.Unlock()
	if prefetch.done != nil {
		return
	}
	locked, done := make(chan struct{}), make(chan struct{})
	prefetch.root, prefetch.locked, prefetch.done = abs, locked, done
	go func() {
		defer close(done)
		f := lockFile(path.Join(abs, lock))
		prefetch.lock = f
		close(locked)
		if f == nil {
			return
		}
		prefetch.res, prefetch.err = List(abs, skip)
	}()
}

func lockFile(name string) *os.File {
	fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if syscall.Flock(fd, syscall.LOCK_EX) != nil {
		syscall.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// TakeLock hands over the lock a Prefetch of dir took, waiting for it if
// needed: the caller now holds the lock and closes the file to release
// it. It returns nil when there is none; the caller then locks itself.
func TakeLock(dir string) *os.File {
	abs, err := absDir(dir)
	if err != nil {
		return nil
	}
	prefetch.mu.Lock()
	defer prefetch.mu.Unlock()
	if prefetch.root == "" || prefetch.root != abs {
		return nil
	}
	if prefetch.handed { // a second lock: the walk may predate it
		prefetch.root = ""
		return nil
	}
	<-prefetch.locked
	f := prefetch.lock
	prefetch.lock = nil
	prefetch.handed = f != nil
	if f == nil {
		prefetch.root = ""
	}
	return f
}

// Ready returns a channel that is closed once the walk a Prefetch of dir
// started is done; an already closed one when there is none.
func Ready(dir string) <-chan struct{} {
	abs, err := absDir(dir)
	prefetch.mu.Lock()
	defer prefetch.mu.Unlock()
	if err == nil && prefetch.root == abs && prefetch.done != nil {
		return prefetch.done
	}
	return closed
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Take returns List(dir, skip), answered by the prefetched walk when its
// lock was handed over by TakeLock (the caller holds it still). The
// prefetch is used at most once.
func Take(dir, skip string) ([]File, error) {
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	prefetch.mu.Lock()
	use := prefetch.root == abs && prefetch.handed
	prefetch.root = ""
	prefetch.mu.Unlock()
	if use {
		<-prefetch.done
		res, err := prefetch.res, prefetch.err
		prefetch.res = nil
		if err == nil {
			return res, nil
		}
	}
	return List(dir, skip)
}
