// Package initramfs assembles a Keel initramfs: keel-init as /init, the
// kernel modules boot needs in load order, the dm-verity public keys, as a
// reproducible newc cpio archive, uncompressed or zstd (Options.Compression).
//
// Layout inside the archive:
//
//	init                          keel-init
//	etc/initrd-release            marks initrd mode for keel-init
//	etc/keel/modules              module paths, one a line, in load order
//	etc/keel/modules.dep          "path: dependency ..." for each of them
//	etc/keel/verity.pub           PEM Ed25519 public keys for root hash signatures
//	lib/modules/<release>/...     the modules themselves
//	dev/console                   so the kernel can give /init a console
package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/cpio"
	"github.com/klauspost/compress/zstd"
)

// File is an extra file for the archive.
type File struct {
	Path   string // absolute path inside the initramfs
	Mode   uint32 // permission bits; 0 means 0644
	Data   []byte // contents, or
	Source string // a host file to copy
}

// Options say what goes in.
type Options struct {
	// Init is the keel-init binary (becomes /init).
	Init string
	// ModulesDir is <root>/lib/modules/<release>; it must hold modules.dep
	// (run depmod -b first). Empty: no modules.
	ModulesDir string
	// ModulesFS, when set, is what ModulesDir (then a path inside it) is
	// read from: an image root's os.Root.FS(), so no symlink and no "../"
	// in modules.dep leads out of the image.
	ModulesFS fs.FS
	// Modules are the module names boot needs; dependencies are added.
	Modules []string
	// VerityKeys are PEM-encoded Ed25519 public keys for root hash signatures.
	VerityKeys [][]byte
	// Files are extra files.
	Files []File
	// Release is /etc/initrd-release (os-release(5) format): the image's
	// own os-release, so the initramfs names its distribution. Empty: a
	// generic one.
	Release []byte
	// SourceDateEpoch is every entry's mtime.
	SourceDateEpoch int64
	// Compression is "" (none) or "zstd". A UKI wants zstd: firmware reads
	// and hashes every byte of it, at a few MB/s under TCG, while the kernel
	// unpacks zstd fast. A direct kernel boot loads bytes for free: none.
	Compression string
}

// DefaultModules boot a Keel guest under QEMU/KVM-style virtio with a
// dm-verity erofs root (see FIELD-NOTES: all are modules in Debian's cloud
// kernels; ext4 is built in).
var DefaultModules = []string{"virtio_pci", "virtio_blk", "dm-verity", "erofs"}

type entry struct {
	hdr    cpio.Header
	data   []byte
	source string
	fsys   fs.FS // source is read from it (nil: the host)
}

// hostFS reads host paths (absolute or relative to the working directory).
type hostFS struct{}

func (hostFS) Open(name string) (fs.File, error) { return os.Open(name) }

// Build writes the archive to w.
func Build(ctx context.Context, o Options, w io.Writer) error {
	switch o.Compression {
	case "":
		return build(ctx, o, w)
	case "zstd":
		// One goroutine and a fixed window: the same bytes on every run, and
		// a window the kernel's unpacker allocates without trouble.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(4<<20))
		if err != nil {
			return fmt.Errorf("initramfs: zstd: %w", err)
		}
		if err := build(ctx, o, zw); err != nil {
			zw.Close()
			return err
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("initramfs: zstd: %w", err)
		}
		return nil
	}
	return fmt.Errorf("initramfs: compression %q: want \"\" (none) or \"zstd\"", o.Compression)
}

func build(ctx context.Context, o Options, w io.Writer) error {
	ents := map[string]*entry{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := ents[d]; !ok {
				ents[d] = &entry{hdr: cpio.Header{Mode: cpio.TypeDir | 0o755}}
			}
		}
	}
	add := func(p string, mode uint32, data []byte, source string, fsys fs.FS) error {
		p = path.Clean("/" + p)
		if p == "/" {
			return fmt.Errorf("initramfs: empty file path")
		}
		if _, dup := ents[p]; dup {
			return fmt.Errorf("initramfs: %s given twice", p)
		}
		var size int64
		if source != "" {
			fi, err := fs.Stat(fsys, source)
			if err != nil {
				return fmt.Errorf("initramfs: %s: %w", p, err)
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("initramfs: %s: source %s is not a regular file", p, source)
			}
			size = fi.Size()
		} else {
			size = int64(len(data))
		}
		ents[p] = &entry{hdr: cpio.Header{Mode: mode, Size: size}, data: data, source: source, fsys: fsys}
		addDirs(p)
		return nil
	}

	if o.Init == "" {
		return fmt.Errorf("initramfs: no init binary given")
	}
	if err := add("/init", cpio.TypeReg|0o755, nil, o.Init, hostFS{}); err != nil {
		return err
	}
	release := o.Release
	if len(release) == 0 {
		release = []byte("NAME=\"initramfs\"\nID=initramfs\n")
	}
	if err := add("/etc/initrd-release", cpio.TypeReg|0o644, release, "", nil); err != nil {
		return err
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/sysroot"} {
		ents[d] = &entry{hdr: cpio.Header{Mode: cpio.TypeDir | 0o755}}
	}
	ents["/tmp"].hdr.Mode = cpio.TypeDir | 0o1777
	ents["/dev/console"] = &entry{hdr: cpio.Header{Mode: cpio.TypeChar | 0o600, RdevMajor: 5, RdevMinor: 1}}

	if o.ModulesDir != "" {
		mfs := o.ModulesFS
		if mfs == nil {
			mfs = hostFS{}
		}
		depPath := filepath.Join(o.ModulesDir, "modules.dep")
		f, err := mfs.Open(depPath)
		if err != nil {
			return fmt.Errorf("initramfs: %w (run depmod -b on the kernel root first)", err)
		}
		deps, err := ParseModulesDep(f, depPath)
		f.Close()
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		builtin := map[string]bool{}
		if bf, err := mfs.Open(filepath.Join(o.ModulesDir, "modules.builtin")); err == nil {
			builtin, err = ParseModulesBuiltin(bf)
			bf.Close()
			if err != nil {
				return fmt.Errorf("initramfs: modules.builtin: %w", err)
			}
		}
		order, err := deps.Order(o.Modules, builtin)
		if err != nil {
			return fmt.Errorf("initramfs: %s: %w", depPath, err)
		}
		release := filepath.Base(filepath.Clean(o.ModulesDir))
		var list, depList strings.Builder
		for _, m := range order {
			// Compressed modules (.ko.xz in 6.12) stay compressed: keel-init
			// passes MODULE_INIT_COMPRESSED_FILE and the kernel decompresses.
			dst := path.Join("/lib/modules", release, m)
			if err := add(dst, cpio.TypeReg|0o644, nil, filepath.Join(o.ModulesDir, m), mfs); err != nil {
				return err
			}
			list.WriteString(dst + "\n")
			depList.WriteString(dst + ":")
			for _, d := range deps[m] {
				depList.WriteString(" " + path.Join("/lib/modules", release, d))
			}
			depList.WriteString("\n")
		}
		if err := add("/etc/keel/modules", cpio.TypeReg|0o644, []byte(list.String()), "", nil); err != nil {
			return err
		}
		// What each module needs, so keel-init loads independent chains
		// (virtio, device-mapper, erofs) at the same time.
		if err := add("/etc/keel/modules.dep", cpio.TypeReg|0o644, []byte(depList.String()), "", nil); err != nil {
			return err
		}
	}
	if len(o.VerityKeys) > 0 {
		var keys bytes.Buffer
		for _, k := range o.VerityKeys {
			keys.Write(bytes.TrimSpace(k))
			keys.WriteByte('\n')
		}
		if err := add("/etc/keel/verity.pub", cpio.TypeReg|0o644, keys.Bytes(), "", nil); err != nil {
			return err
		}
	}
	for _, f := range o.Files {
		mode := f.Mode & 0o7777
		if mode == 0 {
			mode = 0o644
		}
		if err := add(f.Path, cpio.TypeReg|mode, f.Data, f.Source, hostFS{}); err != nil {
			return err
		}
	}

	paths := make([]string, 0, len(ents))
	for p := range ents {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents sort before children
	cw := cpio.NewWriter(w)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := ents[p]
		e.hdr.Name = strings.TrimPrefix(p, "/")
		e.hdr.Mtime = o.SourceDateEpoch
		if err := cw.WriteHeader(&e.hdr); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		if e.source != "" {
			if err := copyInto(cw, e.fsys, e.source, e.hdr.Size); err != nil {
				return fmt.Errorf("initramfs: %s: %w", p, err)
			}
		} else if _, err := cw.Write(e.data); err != nil {
			return fmt.Errorf("initramfs: %s: %w", p, err)
		}
	}
	return cw.Close()
}

// copyInto copies src, which must still be size bytes long, to w.
func copyInto(w io.Writer, fsys fs.FS, src string, size int64) error {
	f, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s changed size while being read", src)
	}
	return err
}

// WriteFile builds the archive into path atomically (temp file, fsync, rename).
func WriteFile(ctx context.Context, o Options, dst string) error {
	return atomicfile.Write(dst, 0o644, func(f *os.File) error { return Build(ctx, o, f) })
}
