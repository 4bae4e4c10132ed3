package assess

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-linux/keel/pkg/ldso"
	"github.com/keel-linux/keel/pkg/rootfs"
	"github.com/keel-linux/keel/pkg/rpmdb"
)

// headSize is what is kept of a file that is neither ELF nor script: enough
// to tell (the kernel reads at most this much of a "#!" line too).
const headSize = 256

// node is one path of a root held in memory: the metadata, and the bytes
// of ELF files (the loader's input) and scripts' heads. Nothing of an image
// is ever written to the host's disk.
type node struct {
	mode fs.FileMode
	link string // symlink target
	size int64
	data []byte                        // ELF: the whole file; otherwise the head
	open func() (io.ReadCloser, error) // a directory root's file, read when needed
	from string                        // "base" or "workload"
}

func (n *node) Name() string       { return "" }
func (n *node) Size() int64        { return n.size }
func (n *node) Mode() fs.FileMode  { return n.mode }
func (n *node) ModTime() time.Time { return time.Time{} }
func (n *node) IsDir() bool        { return n.mode.IsDir() }
func (n *node) Sys() any           { return nil }

func (n *node) isELF() bool    { return n.mode.IsRegular() && ldso.IsELF(n.data) }
func (n *node) isScript() bool { return n.mode.IsRegular() && bytes.HasPrefix(n.data, []byte("#!")) }

// content is the whole file (ELF files are kept whole; a directory root's
// file is read now).
func (n *node) content() ([]byte, error) {
	if n.open == nil || int64(len(n.data)) == n.size {
		return n.data, nil
	}
	rc, err := n.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// tree is a root filesystem indexed in memory, keyed by root-relative path
// without a leading slash. Symlinks resolve through pkg/rootfs, which keeps
// every resolution inside the root.
type tree struct {
	nodes map[string]*node

	mu   sync.Mutex
	objs map[string]objResult // parsed ELF objects by resolved path
}

type objResult struct {
	obj *ldso.Object
	err error
}

func newTree() *tree { return &tree{nodes: map[string]*node{}, objs: map[string]objResult{}} }

func (t *tree) lstat(rel string) (fs.FileInfo, error) {
	if n, ok := t.nodes[rel]; ok {
		return n, nil
	}
	return nil, fs.ErrNotExist
}

func (t *tree) readlink(rel string) (string, error) {
	if n, ok := t.nodes[rel]; ok && n.mode&fs.ModeSymlink != 0 {
		return n.link, nil
	}
	return "", fs.ErrInvalid
}

// resolve returns p's symlink-free root-relative path and its node (nil
// when nothing is there, or the path leaves the root).
func (t *tree) resolve(p string) (string, *node) {
	rel, err := rootfs.Tree{Lstat: t.lstat, Readlink: t.readlink}.ResolveFrom("", p)
	if err != nil {
		return "", nil
	}
	return rel, t.nodes[rel]
}

// object is the loader's Open: the ELF object at absolute path p.
func (t *tree) object(p string) (*ldso.Object, string, error) {
	rel, n := t.resolve(p)
	if n == nil || !n.mode.IsRegular() {
		return nil, "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	t.mu.Lock()
	r, ok := t.objs[rel]
	t.mu.Unlock()
	if !ok {
		r = t.parse(rel, n)
		t.mu.Lock()
		t.objs[rel] = r
		t.mu.Unlock()
	}
	return r.obj, "/" + rel, r.err
}

func (t *tree) parse(rel string, n *node) objResult {
	if !n.isELF() {
		return objResult{err: fmt.Errorf("/%s: %w", rel, ldso.ErrNotELF)}
	}
	if n.open != nil && int64(len(n.data)) < n.size {
		// A directory root's file: the loader reads headers and dynamic
		// sections only, through ReadAt, never the whole file.
		rc, err := n.open()
		if err != nil {
			return objResult{err: err}
		}
		defer rc.Close()
		if ra, ok := rc.(io.ReaderAt); ok {
			o, err := ldso.Read("/"+rel, ra)
			return objResult{obj: o, err: err}
		}
	}
	data, err := n.content()
	if err != nil {
		return objResult{err: err}
	}
	o, err := ldso.Read("/"+rel, bytes.NewReader(data))
	return objResult{obj: o, err: err}
}

func (t *tree) readFile(p string) ([]byte, error) {
	_, n := t.resolve(p)
	if n == nil || !n.mode.IsRegular() {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	if n.open == nil && int64(len(n.data)) < n.size {
		return nil, fmt.Errorf("%s: not kept in memory", p) // only ELF and small files are
	}
	return n.content()
}

// glob matches pattern (absolute) against one directory's entries.
func (t *tree) glob(pattern string) ([]string, error) {
	dir, base := path.Split(pattern)
	if _, err := path.Match(base, ""); err != nil {
		return nil, err
	}
	rdir, _ := t.resolve(dir)
	var out []string
	for k := range t.nodes {
		if path.Dir(k) == rdir || (rdir == "" && !strings.Contains(k, "/")) {
			if ok, _ := path.Match(base, path.Base(k)); ok {
				out = append(out, path.Join(dir, path.Base(k)))
			}
		}
	}
	return out, nil
}

// put adds or replaces a path; a directory replacing a directory keeps
// what is below it, anything else replacing a directory removes it.
func (t *tree) put(rel string, n *node) {
	if old, ok := t.nodes[rel]; ok && old.mode.IsDir() && !n.mode.IsDir() {
		t.removeBelow(rel)
	}
	t.nodes[rel] = n
}

func (t *tree) remove(rel string) {
	delete(t.nodes, rel)
	t.removeBelow(rel)
}

func (t *tree) removeBelow(rel string) {
	prefix := rel + "/"
	for k := range t.nodes {
		if strings.HasPrefix(k, prefix) || rel == "" {
			delete(t.nodes, k)
		}
	}
}

// overlay puts every path of upper over t (upper wins), as a container
// runtime stacks an image's layers on its base.
func (t *tree) overlay(upper *tree) {
	for k, n := range upper.nodes {
		t.put(k, n)
	}
}

// cleanRel confines a tar member name to the root: "../../x" is "x".
func cleanRel(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// addLayers applies an image's layers in order, whiteouts included.
func (t *tree) addLayers(img v1.Image, from string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		err = t.addTar(rc, from)
		rc.Close()
		if err != nil {
			d, _ := l.Digest()
			return fmt.Errorf("layer %d (%s): %w", i+1, d, err)
		}
	}
	return nil
}

// addTar reads one layer tar into the tree: nothing reaches the disk, so
// hostile names and links only ever mean paths inside this map.
func (t *tree) addTar(r io.Reader, from string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := cleanRel(h.Name)
		dir, base := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			t.removeBelow(dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		case rel == "":
			continue
		}
		n := &node{mode: h.FileInfo().Mode(), size: h.Size, from: from}
		switch h.Typeflag {
		case tar.TypeSymlink:
			n.link = h.Linkname
		case tar.TypeLink:
			target, ok := t.nodes[cleanRel(h.Linkname)]
			if !ok {
				return fmt.Errorf("%s: hard link to %s, which is not in the layer", h.Name, h.Linkname)
			}
			cp := *target
			cp.from = from
			n = &cp
		case tar.TypeReg:
			keep := (strings.HasPrefix(rel, "etc/") && h.Size <= maxConf) || rel == rpmdb.Path
			if n.data, err = readHead(tr, h.Size, keep); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		t.put(rel, n)
	}
}

// maxConf is the size up to which files under /etc are kept whole
// (passwd, group, ld.so.conf): what assessment reads besides ELF files.
const maxConf = 1 << 20

// readHead reads a file's head; all of it when it is an ELF file or keep.
func readHead(r io.Reader, size int64, keep bool) ([]byte, error) {
	head := make([]byte, min(size, headSize))
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	if (!keep && !ldso.IsELF(head)) || size <= int64(len(head)) {
		return head, nil
	}
	all := make([]byte, size)
	copy(all, head)
	if _, err := io.ReadFull(r, all[len(head):]); err != nil {
		return nil, err
	}
	return all, nil
}

// addDir indexes a directory root through an os.Root (the kernel confines
// every open to it); ELF contents are read when the loader asks.
func (t *tree) addDir(dir, from string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	// The root stays open for the tree's lifetime: files are read lazily.
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := &node{mode: fi.Mode(), size: fi.Size(), from: from}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if n.link, err = root.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			rel := p
			n.open = func() (io.ReadCloser, error) { return root.Open(rel) }
			f, err := root.Open(p)
			if err != nil {
				return err
			}
			head := make([]byte, min(fi.Size(), headSize))
			_, err = io.ReadFull(f, head)
			f.Close()
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: %w", p, err)
			}
			n.data = head
		}
		t.nodes[p] = n
		return nil
	})
}
