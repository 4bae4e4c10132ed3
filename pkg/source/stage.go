package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Stage fills dest (a build's SOURCES directory) with everything the spec
// may use: the files beside the spec, the pinned sources from the store and
// the local-origin tarballs packed at mtime.
func (f *Fetcher) Stage(ctx context.Context, pkg, specDir string, m *Manifest, dest string, mtime time.Time) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	localDirs := map[string]bool{}
	for file, o := range m.Origins {
		if kind, rest, _ := parseOrigin(o); kind == "local" {
			localDirs[rest] = true
			prefix := strings.TrimSuffix(strings.TrimSuffix(file, ".tar.gz"), ".tgz")
			if err := PackLocal(filepath.Join(specDir, rest), prefix, filepath.Join(dest, file), mtime); err != nil {
				return fmt.Errorf("%s: packing %s: %w", pkg, rest, err)
			}
		}
	}
	entries, err := os.ReadDir(specDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if localDirs[n] || strings.HasSuffix(n, ".spec") || n == filepath.Base(m.Path()) {
			continue
		}
		if !e.Type().IsRegular() {
			if e.IsDir() {
				continue
			}
			return fmt.Errorf("%s: %s: only regular files may sit beside a spec", pkg, filepath.Join(specDir, n))
		}
		if err := atomicfile.Copy(filepath.Join(specDir, n), filepath.Join(dest, n)); err != nil {
			return err
		}
	}
	for file := range m.Signatures {
		p, err := f.Resolve(ctx, pkg, m, file)
		if err != nil {
			return err
		}
		if err := linkOrCopy(p, filepath.Join(dest, file)); err != nil {
			return err
		}
	}
	return nil
}

func linkOrCopy(src, dst string) error {
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return atomicfile.Copy(src, dst)
}

// PinChange is one file whose pin `Pin` rewrote (or would rewrite).
type PinChange struct {
	Package string `json:"package"`
	File    string `json:"file"`
	Old     string `json:"old,omitempty"`
	New     string `json:"new"`
	From    string `json:"from"`
}

// Pin re-reads every pinned file of a package from its origin (first
// lookaside, then the network) without trusting the old pin, and rewrites
// the manifest where upstream moved on. With dryRun nothing is written.
func (f *Fetcher) Pin(ctx context.Context, pkg string, m *Manifest, dryRun bool) ([]PinChange, error) {
	var changes []PinChange
	for _, file := range m.Files() {
		o := m.Origins[file]
		kind, rest, _ := parseOrigin(o)
		if kind == "local" || kind == "member" || kind == "gomod" || kind == "govendor" {
			continue // local: unpinned; member: re-pinned below once its archive is; Go: PinGo
		}
		sum, from, err := f.hashFromOrigin(ctx, file, kind, rest)
		if err != nil {
			return changes, fmt.Errorf("%s: %s: %w", pkg, file, err)
		}
		if m.Signatures[file] != sum {
			changes = append(changes, PinChange{pkg, file, m.Signatures[file], sum, from})
			m.Signatures[file] = sum
		}
	}
	goChanges, err := f.PinGo(ctx, pkg, m, true)
	changes = append(changes, goChanges...)
	if err != nil {
		return changes, err
	}
	// Members: extract from the (possibly re-pinned) archive and hash.
	for _, file := range m.Files() {
		kind, rest, _ := parseOrigin(m.Origins[file])
		if kind != "member" {
			continue
		}
		archive, member, _ := strings.Cut(rest, "#")
		ap, err := f.Resolve(ctx, pkg, m, archive)
		if err != nil {
			return changes, err
		}
		sum, err := memberHash(ap, member)
		if err != nil {
			return changes, fmt.Errorf("%s: %s: %w", pkg, file, err)
		}
		if m.Signatures[file] != sum {
			changes = append(changes, PinChange{pkg, file, m.Signatures[file], sum, ap + "#" + member})
			m.Signatures[file] = sum
		}
	}
	if len(changes) > 0 && !dryRun {
		return changes, m.Save()
	}
	return changes, nil
}

func (f *Fetcher) hashFromOrigin(ctx context.Context, file, kind, rest string) (sum, from string, err error) {
	for _, dir := range f.Lookaside {
		if strings.Contains(dir, "://") {
			continue
		}
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err == nil {
			s, err := Hash(p)
			return s, p, err
		}
	}
	if f.Offline {
		return "", "", fmt.Errorf("not in any lookaside and --offline")
	}
	var urls []string
	switch kind {
	case "url":
		urls = []string{rest}
	case "debian":
		for _, mirror := range f.Mirrors {
			urls = append(urls, strings.TrimSuffix(mirror, "/")+"/"+rest)
		}
	default:
		return "", "", fmt.Errorf("no origin to pin from")
	}
	var lastErr error
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", "", err
		}
		resp, err := f.client().Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			lastErr = fmt.Errorf("%s: %s", u, resp.Status)
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		return hex.EncodeToString(h.Sum(nil)), u, nil
	}
	return "", "", lastErr
}

func memberHash(archive, member string) (string, error) {
	in, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tr, err := openTar(in, archive)
	if err != nil {
		return "", err
	}
	for {
		hdr, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("no member %q in %s", member, archive)
		}
		if strings.TrimPrefix(hdr.Name, "./") == member {
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return "", err
			}
			return hex.EncodeToString(h.Sum(nil)), nil
		}
	}
}

// HashTree writes every regular file under dir (relative name, exec bit,
// content digest), in sorted order, to h: the content identity of a tree.
func HashTree(h io.Writer, dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sum, err := Hash(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file %s %v %s\n", filepath.ToSlash(rel), st.Mode()&0o111 != 0, sum)
	}
	return nil
}
