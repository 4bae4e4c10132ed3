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
	"sort"
	"strings"
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
	old := map[string]*repodata.Package{}
	var prev *repodata.State
	if st, err := repodata.ReadState(dir); err == nil {
		prev = st
		for _, p := range st.Packages {
			old[p.Href] = p
		}
	} else if !errors.Is(err, repodata.ErrNoRepo) {
		return nil, fmt.Errorf("index: reading the current metadata: %w", err)
	}
	type file struct {
		href string
		fi   fs.FileInfo
	}
	var files []file
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || name == linkName) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".rpm") || strings.HasSuffix(name, ".src.rpm") || strings.HasPrefix(name, ".") || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, file{filepath.ToSlash(rel), fi})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].href < files[j].href })
	res := &Result{}
	all := make([]*repodata.Package, len(files))
	var todo []int
	for i, f := range files {
		if p := old[f.href]; p != nil && p.Size == f.fi.Size() && p.Mtime == f.fi.ModTime().Unix() {
			all[i] = p
			res.Reused++
			continue
		}
		todo = append(todo, i)
	}
	if err := forEach(ctx, len(todo), func(k int) (err error) {
		i := todo[k]
		all[i], err = indexOne(dir, files[i].href, files[i].fi)
		return err
	}); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	seen := map[string]string{}
	for _, p := range all {
		if prev, ok := seen[p.NEVRA()]; ok {
			return nil, fmt.Errorf("index: duplicate NEVRA %s: %s and %s", p.NEVRA(), prev, p.Href)
		}
		seen[p.NEVRA()] = p.Href
	}
	for _, i := range todo {
		res.Added = append(res.Added, all[i].NEVRA())
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

func indexOne(dir, href string, fi fs.FileInfo) (*repodata.Package, error) {
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
	return repodata.NewPackage(p, repodata.FileInfo{Href: href, Size: int64(len(raw)), Mtime: fi.ModTime().Unix(), Checksum: hex.EncodeToString(sum[:])})
}
