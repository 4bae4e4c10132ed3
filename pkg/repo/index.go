package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/rpm"
)

// IndexOptions controls Index.
type IndexOptions struct {
	Dir             string
	Key             *pgp.Key // signs repomd.xml when set; packages are left as they are
	SourceDateEpoch int64
	Compression     repodata.Compression
}

// Index (re)generates the metadata of a directory of packages in place, as
// createrepo_c --update does: files whose path, size and mtime match the
// current metadata keep their entries, others are read. The swap is as
// atomic as Publish's.
func Index(ctx context.Context, opt IndexOptions) (*Result, error) {
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	stamp := time.Unix(opt.SourceDateEpoch, 0)
	if opt.SourceDateEpoch == 0 {
		stamp = time.Now()
	}
	unlock, err := lockRepo(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cleanTemps(dir)
	// One goroutine throughout: measured, reading the metadata on a second
	// one while listing cost more (thread wake-ups, cross-CPU TLB flushes
	// for page faults) than it saved, even in wall time.
	prev, err := repodata.ReadState(dir)
	if errors.Is(err, repodata.ErrNoRepo) {
		prev = nil
	} else if err != nil {
		return nil, fmt.Errorf("index: reading the current metadata: %w", err)
	}
	files, err := listRPMs(dir)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	old := map[string]*repodata.Package{}
	if prev != nil {
		old = make(map[string]*repodata.Package, len(prev.Packages))
		for _, p := range prev.Packages {
			old[p.Href] = p
		}
	}
	res := &Result{}
	all := make([]*repodata.Package, len(files))
	var todo []int
	for i, f := range files {
		if p := old[f.href]; p != nil && p.Size == f.size && p.Mtime == f.mtime {
			all[i] = p
			res.Reused++
			continue
		}
		todo = append(todo, i)
	}
	if err := forEach(ctx, len(todo), func(k int) (err error) {
		i := todo[k]
		all[i], err = indexOne(dir, files[i].href, files[i].mtime)
		return err
	}); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	for _, i := range todo {
		res.Added = append(res.Added, all[i].NEVRA())
	}
	// Sorted, packages with the same NEVRA are near each other (among those
	// rpm compares equal: 1.0 and 1.00 are different NEVRAs), and the
	// metadata writer finds them in order.
	repodata.SortPackages(all)
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.Name != b.Name || a.Arch != b.Arch || rpm.Compare(a.EVR, b.EVR) != 0 {
				break
			}
			if a.EVR == b.EVR {
				return nil, fmt.Errorf("index: duplicate NEVRA %s: %s and %s", a.NEVRA(), a.Href, b.Href)
			}
		}
	}
	res.Packages = len(all)
	if len(todo) == 0 && len(old) == len(all) {
		res.Generation, _ = currentGeneration(dir)
		return res, nil
	}
	gen, err := writeGeneration(dir, all, Options{Key: opt.Key, Compression: opt.Compression}, stamp, prev)
	if err != nil {
		return nil, err
	}
	res.Generation = gen
	return res, nil
}

func indexOne(dir, href string, mtime int64) (*repodata.Package, error) {
	raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(href)))
	if err != nil {
		return nil, err
	}
	p, err := rpm.ReadPackage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", href, err)
	}
	if err := p.VerifyDigestsFrom(bytes.NewReader(raw[p.PayloadOffset:])); err != nil {
		return nil, fmt.Errorf("%s: corrupt or tampered package: %w", href, err)
	}
	sum := sha256.Sum256(raw)
	return repodata.NewPackage(p, repodata.FileInfo{Href: href, Size: int64(len(raw)), Mtime: mtime, Checksum: hex.EncodeToString(sum[:])})
}

// rpmFile is a binary package found under the repository directory.
type rpmFile struct {
	href        string // slash-separated, relative to the repository
	size, mtime int64
}

// listRPMs finds the binary packages under dir (not in dot directories or
// repodata), sorted by href. Every name is stat'ed relative to its
// directory's descriptor (that also tells directories apart), with no
// per-entry objects besides the names: a thousand full-path lookups and
// their garbage were most of a one-package update.
func listRPMs(dir string) ([]rpmFile, error) {
	var out []rpmFile
	var walk func(rel string) error
	walk = func(rel string) error {
		d, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		defer d.Close()
		names, err := d.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("reading %s: %w", d.Name(), err)
		}
		if out == nil {
			out = make([]rpmFile, 0, len(names))
		}
		fd := int(d.Fd())
		var st unix.Stat_t
		for _, name := range names {
			if strings.HasPrefix(name, ".") || name == linkName {
				continue
			}
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue // removed since it was listed
				}
				return &fs.PathError{Op: "stat", Path: filepath.Join(d.Name(), name), Err: err}
			}
			href := name
			if rel != "" {
				href = rel + "/" + name
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if err := walk(href); err != nil {
					return err
				}
			case unix.S_IFREG:
				if strings.HasSuffix(name, ".rpm") && !strings.HasSuffix(name, ".src.rpm") {
					out = append(out, rpmFile{href, st.Size, st.Mtim.Sec})
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b rpmFile) int { return strings.Compare(a.href, b.href) })
	return out, nil
}
