package source

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
)

// Fetcher resolves pinned files into a content-addressed store
// (<Store>/sha256/<hex>) and copies them into a build's SOURCES directory.
type Fetcher struct {
	Lookaside []string     // directories searched first, in order
	Mirrors   []string     // base URLs for "debian:" origins
	Store     string       // content-addressed store directory
	Client    *http.Client // nil: a client with a 5-minute timeout
	// Offline forbids network access (lookaside and store only).
	Offline bool
}

// MismatchError is a pinned file whose bytes hash differently.
type MismatchError struct {
	Package, File, From, Got, Want, Manifest string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: %s from %s has sha256 %s, pinned %s in %s; if upstream really changed, check it and run `keel sources pin %s`",
		e.Package, e.File, e.From, e.Got, e.Want, e.Manifest, e.Package)
}

// Resolve makes the pinned file available in the store and returns its path.
func (f *Fetcher) Resolve(ctx context.Context, pkg string, m *Manifest, file string) (string, error) {
	want, ok := m.Signatures[file]
	if !ok {
		return "", fmt.Errorf("%s: %s is not pinned in %s", pkg, file, m.Path())
	}
	stored := f.storePath(want)
	if _, err := os.Stat(stored); err == nil {
		return stored, nil
	}
	var tried []string
	for _, dir := range f.Lookaside {
		if strings.Contains(dir, "://") {
			if f.Offline {
				continue
			}
			u := strings.TrimSuffix(dir, "/") + "/" + file
			tried = append(tried, u)
			if err := f.download(ctx, u, pkg, m, file, want); err == nil {
				return stored, nil
			} else if isMismatch(err) {
				return "", err
			}
			continue
		}
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err != nil {
			tried = append(tried, p)
			continue
		}
		if err := f.ingestFile(p, pkg, m, file, want); err != nil {
			return "", err
		}
		return stored, nil
	}
	origin := m.Origins[file]
	kind, rest, err := parseOrigin(origin)
	if origin == "" {
		err = nil
		kind = ""
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.Path(), err)
	}
	switch kind {
	case "member":
		archive, member, _ := strings.Cut(rest, "#")
		ap, err := f.Resolve(ctx, pkg, m, archive)
		if err != nil {
			return "", fmt.Errorf("%s: %s is a member of %s: %w", pkg, file, archive, err)
		}
		if err := f.ingestMember(ap, member, pkg, m, file, want); err != nil {
			return "", err
		}
		return stored, nil
	case "gomod":
		if err := f.resolveGoMod(ctx, pkg, m, file, rest, want); err != nil {
			return "", err
		}
		return stored, nil
	case "govendor":
		if err := f.resolveGoVendor(ctx, pkg, m, file, rest, want); err != nil {
			return "", err
		}
		return stored, nil
	case "debian", "url":
		if f.Offline {
			break
		}
		var urls []string
		if kind == "url" {
			urls = []string{rest}
		} else {
			for _, mirror := range f.Mirrors {
				urls = append(urls, strings.TrimSuffix(mirror, "/")+"/"+rest)
			}
		}
		var lastErr error
		for _, u := range urls {
			tried = append(tried, u)
			err := f.download(ctx, u, pkg, m, file, want)
			if err == nil {
				return stored, nil
			}
			if isMismatch(err) {
				return "", err
			}
			lastErr = err
		}
		if lastErr != nil {
			return "", fmt.Errorf("%s: cannot fetch %s (tried %s): %w", pkg, file, strings.Join(tried, ", "), lastErr)
		}
	}
	return "", fmt.Errorf("%s: %s not found (tried %s); add a lookaside (KEEL_LOOKASIDE or sources.lookaside in keel.yaml) or an origin in %s",
		pkg, file, strings.Join(tried, ", "), m.Path())
}

func isMismatch(err error) bool {
	var me *MismatchError
	return errors.As(err, &me)
}

func (f *Fetcher) storePath(sum string) string {
	return filepath.Join(f.Store, "sha256", sum)
}

// ingest streams r into the store under want, verifying the hash; a
// mismatch leaves nothing behind.
func (f *Fetcher) ingest(r io.Reader, from, pkg string, m *Manifest, file, want string) error {
	dir := filepath.Join(f.Store, "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: reading %s: %w", pkg, from, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		tmp.Close()
		return &MismatchError{Package: pkg, File: file, From: from, Got: got, Want: want, Manifest: m.Path()}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	_ = os.Chmod(tmp.Name(), 0o444)
	return os.Rename(tmp.Name(), f.storePath(want))
}

func (f *Fetcher) ingestFile(p, pkg string, m *Manifest, file, want string) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	return f.ingest(in, p, pkg, m, file, want)
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Timeout: 5 * time.Minute}
}

func (f *Fetcher) download(ctx context.Context, url, pkg string, m *Manifest, file, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return f.ingest(resp.Body, url, pkg, m, file, want)
}

// ingestMember extracts one member of a (compressed) tar archive.
func (f *Fetcher) ingestMember(archive, member, pkg string, m *Manifest, file, want string) error {
	in, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer in.Close()
	tr, err := openTar(in, m.Origins[file])
	if err != nil {
		return fmt.Errorf("%s: %s: %w", pkg, archive, err)
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s: %s: no member %q (origin %q in %s)", pkg, filepath.Base(archive), member, m.Origins[file], m.Path())
		}
		if err != nil {
			return fmt.Errorf("%s: reading %s: %w", pkg, archive, err)
		}
		if path.Clean(strings.TrimPrefix(hdr.Name, "./")) == member && hdr.Typeflag == tar.TypeReg {
			return f.ingest(tr, archive+"#"+member, pkg, m, file, want)
		}
	}
}

// openTar sniffs the compression by magic bytes, not by name.
func openTar(r io.ReadSeeker, what string) (*tar.Reader, error) {
	var magic [6]byte
	n, _ := io.ReadFull(r, magic[:])
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b := magic[:n]
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return tar.NewReader(zr), nil
	case len(b) >= 3 && string(b[:3]) == "BZh":
		return tar.NewReader(bzip2.NewReader(r)), nil
	case len(b) >= 6 && string(b[:6]) == "\xfd7zXZ\x00":
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return tar.NewReader(xr), nil
	}
	return tar.NewReader(r), nil
}

// PackLocal packs dir into a reproducible gzip'd tarball at dst: sorted
// entries under prefix/, owner root, mtime fixed, permissions normalised.
func PackLocal(dir, prefix, dst string, mtime time.Time) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return fmt.Errorf("%s: only regular files and directories can be packed", p)
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".pack-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestCompression)
	zw.ModTime = time.Time{}
	tw := tar.NewWriter(zw)
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: prefix + "/" + filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if st.IsDir() {
			h.Typeflag, h.Mode, h.Name = tar.TypeDir, 0o755, h.Name+"/"
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, st.Size()
		if st.Mode()&0o111 != 0 {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// Hash returns the sha256 of a file as hex.
func Hash(p string) (string, error) {
	in, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
