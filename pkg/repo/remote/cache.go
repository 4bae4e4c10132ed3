package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Cache holds what was downloaded from repositories, by sha256: metadata
// files (as stored, compressed) under metadata/, packages under
// packages/, downloads in progress under partial/ (kept between runs, so
// an interrupted download resumes). A file appears under its checksum only
// once it has been verified and synced: a crash leaves partial/ files,
// never a wrong cached one. repomd.xml and its signature are never cached:
// they are what says whether the rest is still current.
type Cache struct {
	Dir string
	// Attempts per file (default 4) and the wait before the first retry
	// (default 200ms), doubled at each further one. An attempt that made
	// progress does not count: a connection dropped mid-file resumes.
	Attempts int
	Backoff  time.Duration
}

// CacheDir is where the Keel cache keeps rpm-md downloads.
func CacheDir(keelCache string) string { return filepath.Join(keelCache, "rpm-md") }

// ChecksumError is a downloaded file that does not match the checksum the
// (signed) metadata gives for it.
type ChecksumError struct {
	URL, Got, Want string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: sha256 %s, the repository's metadata says %s: the server sends another file than its signed metadata names (nothing was kept; fix or re-publish the repository, or use another mirror)", e.URL, e.Got, e.Want)
}

func (c *Cache) attempts() int {
	if c.Attempts > 0 {
		return c.Attempts
	}
	return 4
}

func (c *Cache) backoff() time.Duration {
	if c.Backoff > 0 {
		return c.Backoff
	}
	return 200 * time.Millisecond
}

// retry runs try until it succeeds, fails permanently or runs out of
// attempts; try reports whether it made progress.
func (c *Cache) retry(ctx context.Context, try func() (progress bool, err error)) error {
	wait := c.backoff()
	failed := 0
	for {
		progress, err := try()
		if err == nil {
			return nil
		}
		var pe *permanentError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return err
		}
		if progress {
			failed, wait = 0, c.backoff()
		}
		failed++
		if failed >= c.attempts() {
			return fmt.Errorf("%w (gave up after %d attempts: check the URL and that the server is up)", err, failed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// Get reads a small file (repomd.xml and its signature), uncached, at
// most limit bytes.
func (c *Cache) Get(ctx context.Context, src Source, rel string, limit int64) ([]byte, error) {
	if p := src.LocalPath(rel); p != "" {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
		return b, err
	}
	var out []byte
	err := c.retry(ctx, func() (bool, error) {
		r, _, err := src.Open(ctx, rel, 0)
		if err != nil {
			return false, err
		}
		defer r.Close()
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return false, err
		}
		if int64(len(b)) > limit {
			return false, permanent(fmt.Errorf("%s/%s: larger than %d bytes", src.URL(), rel, limit))
		}
		out = b
		return false, nil
	})
	return out, err
}

// Metadata returns a metadata file that repomd.xml names by sha256 (and
// size, 0 when unknown): from the directory when local, else from the
// cache, downloading it first when absent. The caller checks the bytes.
func (c *Cache) Metadata(ctx context.Context, src Source, rel, sum string, size int64) ([]byte, error) {
	if p := src.LocalPath(rel); p != "" {
		return os.ReadFile(p)
	}
	dst := filepath.Join(c.Dir, "metadata", sum)
	if b, err := os.ReadFile(dst); err == nil {
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) == sum {
			return b, nil
		}
		os.Remove(dst) // damaged by hand: fetch it again
	}
	if err := c.fetch(ctx, src, rel, sum, size, dst); err != nil {
		return nil, err
	}
	return os.ReadFile(dst)
}

// Package returns the path of a package file on this machine: in its
// directory when local, else in the cache, downloaded (resumably, verified
// against sum) when absent.
func (c *Cache) Package(ctx context.Context, src Source, rel, sum string, size int64) (string, error) {
	if p := src.LocalPath(rel); p != "" {
		return p, nil
	}
	dst := filepath.Join(c.Dir, "packages", sum+".rpm")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	return dst, c.fetch(ctx, src, rel, sum, size, dst)
}

// fetch downloads rel into dst through partial/<sum>.part: resumed from
// what an earlier attempt (or run) left there, locked against another
// keel fetching the same file, verified, synced, then renamed.
func (c *Cache) fetch(ctx context.Context, src Source, rel, sum string, size int64, dst string) error {
	if len(sum) != 64 {
		return fmt.Errorf("%s/%s: checksum %q is not a sha256", src.URL(), rel, sum)
	}
	partDir := filepath.Join(c.Dir, "partial")
	for _, d := range []string{partDir, filepath.Dir(dst)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	part := filepath.Join(partDir, sum+".part")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil // another keel fetched it meanwhile
	}
	url := src.URL() + "/" + rel
	limit := size
	if limit <= 0 {
		limit = 1 << 40
	}
	restarted := false
	err = c.retry(ctx, func() (bool, error) {
		have, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return false, err
		}
		if have > limit {
			if err := truncate(f); err != nil {
				return false, err
			}
			have = 0
		}
		if size > 0 && have < size || size <= 0 {
			r, start, err := src.Open(ctx, rel, have)
			if err != nil {
				return false, err
			}
			if start != have {
				if err := truncate(f); err != nil {
					r.Close()
					return false, err
				}
			}
			n, err := io.Copy(f, io.LimitReader(r, limit-start+1))
			r.Close()
			// A dropped connection is an error (short of Content-Length),
			// retried from where it stopped when the file grew; a complete
			// answer of the wrong length fails the checksum below.
			if err != nil {
				return start+n > have, err
			}
		}
		got, err := fileSum(f)
		if err != nil {
			return false, err
		}
		if got != sum {
			if err := truncate(f); err != nil {
				return false, err
			}
			// A resumed prefix may have been stale: one more try from
			// the start before the server is blamed.
			if !restarted {
				restarted = true
				return true, errors.New("checksum mismatch, fetching again")
			}
			return false, permanent(&ChecksumError{URL: url, Got: got, Want: sum})
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.As(err, new(*ChecksumError)) {
			os.Remove(part)
		}
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

func fileSum(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
