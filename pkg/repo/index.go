package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	// Nothing here runs on a second goroutine: an update of one package
	// is a few milliseconds, and handing work to another thread cost more
	// than it saved (bench/results/repo.md).
	prev, err := repodata.ReadState(dir)
	if errors.Is(err, repodata.ErrNoRepo) {
		prev = nil
	} else if err != nil {
		return nil, fmt.Errorf("index: reading the current metadata: %w", err)
	}
	files, err := listPackages(dir)
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
		if p := old[f.Href]; p != nil && p.Size == f.Size && p.Mtime == f.Mtime {
			all[i] = p
			res.Reused++
			continue
		}
		todo = append(todo, i)
	}
	if err := forEach(ctx, len(todo), func(k int) (err error) {
		i := todo[k]
		all[i], err = indexOne(dir, files[i].Href, files[i].Mtime)
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
