package distro

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	embedded "github.com/keel-linux/keel/distro"
)

// Resolve picks the distribution tree a command works on: the given
// directory; else ./distro when it holds a keel.yaml; else the copy of Keel
// Linux embedded in the binary, materialised once under cache/distro/<hash>.
func Resolve(dir, cache string) (*Distro, error) {
	if dir != "" {
		return Load(dir)
	}
	if _, err := os.Stat(filepath.Join("distro", ConfigFile)); err == nil {
		return Load("distro")
	}
	root, err := Materialize(embedded.FS, cache)
	if err != nil {
		return nil, fmt.Errorf("unpacking the embedded Keel Linux tree: %w", err)
	}
	return Load(root)
}

// Materialize writes an fs.FS to cache/distro/<content hash> (atomically,
// once) and returns that directory.
func Materialize(fsys fs.FS, cache string) (string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && p != "embed.go" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	dst := filepath.Join(cache, "distro", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dst, ConfigFile)); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".distro-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		out := filepath.Join(tmp, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return "", err
		}
		in, err := fsys.Open(f)
		if err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if st, err := in.Stat(); err == nil && st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			in.Close()
			return "", err
		}
		_, err = io.Copy(w, in)
		in.Close()
		w.Close()
		if err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, statErr := os.Stat(filepath.Join(dst, ConfigFile)); statErr == nil {
			return dst, nil // another keel won the race
		}
		return "", err
	}
	return dst, nil
}

// DefaultCache is $KEEL_CACHE, else $XDG_CACHE_HOME/keel, else ~/.cache/keel.
func DefaultCache() string {
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		return c
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "keel")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "keel-cache")
	}
	return filepath.Join(home, ".cache", "keel")
}
