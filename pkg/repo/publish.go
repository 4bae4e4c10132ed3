// Package repo publishes, verifies and serves Keel's signed rpm-md
// repository.
//
// Layout of a published repository:
//
//	Packages/<first letter>/<name>-<version>-<release>.<arch>.rpm
//	repodata -> .meta/<generation>     (relative symlink, swapped atomically)
//	.meta/<generation>/repomd.xml, repomd.xml.asc, <sha256>-primary.xml.zst, …
//	RPM-GPG-KEY-<name>, <name>.repo
//
// A publish writes packages under new names, builds a complete new
// generation directory aside and then renames a new symlink over
// repodata: a reader (or a kill -9) sees the old repository or the new one,
// never a mix. The previous generation's metadata files are hard-linked into
// the new one, so a client holding the old repomd.xml still finds its files.
package repo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/rpmdir"
)

// Options controls Publish.
type Options struct {
	Dir             string   // repository directory (created if missing)
	Packages        []string // .rpm files to add
	Key             *pgp.Key // signs packages and repomd.xml
	SourceDateEpoch int64    // signature times, metadata timestamps, package mtimes; 0 = now
	Compression     repodata.Compression
	BaseURL         string // baseurl written to <Name>.repo (default file://<Dir>)
	// Name is the distribution's name (keel.yaml name): clients get
	// RPM-GPG-KEY-<Name> and <Name>.repo, whose section is [<Name>]; Title
	// (pretty_name) names the repository in it. Default keel, Keel Linux.
	Name, Title string
}

// Result reports what Publish did.
type Result struct {
	Added      []string `json:"added"`     // NEVRAs added (index: read)
	Unchanged  []string `json:"unchanged"` // inputs already in the repository with the same header
	Reused     int      `json:"reused"`    // packages whose metadata was re-used
	Generation string   `json:"generation"`
	Packages   int      `json:"packages"`
}

const (
	metaDir  = ".meta"
	linkName = "repodata"
	// LockFile, relative to the repository, is flock(2)ed by every writer.
	LockFile = metaDir + "/lock"
	// LinkName is the repodata symlink; the package walk skips it.
	LinkName    = linkName
	keepOldGens = 1 // previous generations kept besides the current one
)

// KeyFile and RepoFile name the files published next to the packages for
// clients of distribution name.
func KeyFile(name string) string  { return "RPM-GPG-KEY-" + orKeel(name) }
func RepoFile(name string) string { return orKeel(name) + ".repo" }

func orKeel(name string) string {
	if name == "" {
		return "keel"
	}
	return name
}

type input struct {
	src  string
	off  int64        // payload offset in src
	pkg  *rpm.Package // re-signed
	href string
	size int64
	sum  string
	md   *repodata.Package
}

// Publish adds packages to the repository at opt.Dir, signing them and the
// metadata with opt.Key. On any error the published repository is untouched
// (new package files may remain, unreferenced).
func Publish(ctx context.Context, opt Options) (*Result, error) {
	if opt.Key == nil {
		return nil, errors.New("publish: no signing key (run keel keys init)")
	}
	if opt.Dir == "" {
		return nil, errors.New("publish: no repository directory")
	}
	// Clients get the public key with the repository: a key that cannot be
	// exported fails here, before anything is written.
	var pub bytes.Buffer
	if err := opt.Key.WritePublic(&pub); err != nil {
		return nil, fmt.Errorf("publish: exporting the public key: %w", err)
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	sde := opt.SourceDateEpoch
	stamp := time.Unix(sde, 0)
	if sde == 0 {
		stamp = time.Now()
	}
	log := logctx.FromContext(ctx)
	unlock, err := lockRepo(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cleanTemps(dir)

	// Existing metadata, if any, is the base of the update.
	var existing []*repodata.Package
	var files []rpmdir.File
	prev, err := repodata.ReadState(dir)
	switch {
	case err == nil:
		existing = prev.Packages
		if files, err = listPackages(dir); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	case errors.Is(err, repodata.ErrNoRepo):
		prev = nil
	default:
		return nil, fmt.Errorf("publish: reading the current repository: %w", err)
	}
	log.Info("read the current repository", "packages", len(existing))
	inputs, err := prepare(ctx, opt, stamp)
	if err != nil {
		return nil, err
	}
	log.Info("checked and signed", "packages", len(inputs))
	res := &Result{}
	onDisk := make(map[string]rpmdir.File, len(files))
	for _, f := range files {
		onDisk[f.Href] = f
	}
	byNEVRA := map[string]*repodata.Package{}
	var keep []*repodata.Package
	for _, p := range existing {
		f, ok := onDisk[p.Href]
		if !ok { // not a plain file under the tree (a symlink, say): as it resolves
			if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p.Href))); err == nil {
				f, ok = rpmdir.File{Href: p.Href, Size: fi.Size(), Mtime: fi.ModTime().Unix()}, true
			}
		}
		if !ok || f.Size != p.Size || f.Mtime != p.Mtime {
			// Gone or changed behind our back: drop it; verify reports such repos.
			continue
		}
		byNEVRA[p.NEVRA()] = p
		keep = append(keep, p)
	}
	res.Reused = len(keep)
	var add []*repodata.Package
	var toWrite []*input
	for _, in := range inputs {
		nevra := in.pkg.NEVRA()
		if old := byNEVRA[nevra]; old != nil {
			if old.PkgID == in.sum || sameHeader(filepath.Join(dir, filepath.FromSlash(old.Href)), in.pkg) {
				res.Unchanged = append(res.Unchanged, nevra)
				continue
			}
			return nil, fmt.Errorf("publish: %s: duplicate NEVRA %s: the repository already has a different %s", in.src, nevra, old.Href)
		}
		dest := filepath.Join(dir, filepath.FromSlash(in.href))
		if fi, err := os.Lstat(dest); err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("publish: %s: %s exists and is not a regular file", in.src, in.href)
		}
		md := in.md
		byNEVRA[nevra] = md
		add = append(add, md)
		res.Added = append(res.Added, nevra)
		toWrite = append(toWrite, in)
	}
	// Only now, with every check passed, do package files appear: under new
	// names, so nothing the current metadata references changes.
	if err := writePackages(ctx, dir, toWrite, stamp); err != nil {
		return nil, err
	}
	log.Info("wrote", "packages", len(toWrite))
	if len(add) == 0 && len(existing) > 0 && len(keep) == len(existing) {
		gen, _ := currentGeneration(dir)
		res.Generation, res.Packages = gen, len(keep)
		if err := writeClientFiles(dir, opt, pub.Bytes(), stamp); err != nil {
			return nil, err
		}
		return res, nil
	}
	all := append(keep, add...)
	log.Info("writing metadata", "packages", len(all))
	gen, err := writeGeneration(dir, all, opt, stamp, prev)
	if err != nil {
		return nil, err
	}
	if err := writeClientFiles(dir, opt, pub.Bytes(), stamp); err != nil {
		return nil, err
	}
	res.Generation, res.Packages = gen, len(all)
	return res, nil
}

// prepare reads, checks and signs every input package in parallel.
func prepare(ctx context.Context, opt Options, stamp time.Time) ([]*input, error) {
	srcs := append([]string(nil), opt.Packages...)
	sort.Strings(srcs)
	inputs := make([]*input, len(srcs))
	if err := forEach(ctx, len(srcs), func(i int) (err error) {
		inputs[i], err = prepareOne(srcs[i], opt.Key, stamp)
		return err
	}); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	seen := map[string]string{}
	for _, in := range inputs {
		n := in.pkg.NEVRA()
		if prev, ok := seen[n]; ok && inputsDiffer(inputs, prev, in.src) {
			return nil, fmt.Errorf("publish: duplicate NEVRA %s in %s and %s", n, prev, in.src)
		}
		seen[n] = in.src
	}
	// Identical duplicates collapse to one.
	out := inputs[:0]
	done := map[string]bool{}
	for _, in := range inputs {
		if !done[in.pkg.NEVRA()] {
			done[in.pkg.NEVRA()] = true
			out = append(out, in)
		}
	}
	return out, nil
}

func inputsDiffer(inputs []*input, a, b string) bool {
	var sa, sb string
	for _, in := range inputs {
		if in.src == a {
			sa = in.sum
		}
		if in.src == b {
			sb = in.sum
		}
	}
	return sa != sb
}

func prepareOne(src string, key *pgp.Key, stamp time.Time) (*input, error) {
	raw, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	p, err := rpm.ReadPackage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if p.Header.IsSource() {
		return nil, fmt.Errorf("%s: is a source package; publish binary packages", src)
	}
	payload := raw[p.PayloadOffset:]
	if err := p.VerifyDigestsFrom(bytes.NewReader(payload)); err != nil {
		return nil, fmt.Errorf("%s: corrupt or tampered package: %w", src, err)
	}
	// A signature by another key is replaced; one by our key that does not
	// verify, or one that is not a signature at all, means tampering.
	if sig := p.HeaderSignature(); sig != nil {
		if _, err := key.Keyring().Verify(bytes.NewReader(p.HeaderBlob), sig); err != nil && !errors.Is(err, pgp.ErrUnknownKey) {
			return nil, fmt.Errorf("%s: bad signature: %w", src, err)
		}
	}
	sp, err := p.Resign(func(h []byte) ([]byte, error) { return key.Sign(bytes.NewReader(h), stamp) })
	if err != nil {
		return nil, fmt.Errorf("%s: signing: %w", src, err)
	}
	h := sha256.New()
	cw := &countWriter{w: h}
	if err := sp.Write(cw, bytes.NewReader(payload)); err != nil {
		return nil, err
	}
	name := sp.Header.Filename()
	if !safeFileName(name) {
		return nil, fmt.Errorf("%s: package file name %q: want only letters, digits and ._+~^- (not leading '.')", src, name)
	}
	in := &input{src: src, off: p.PayloadOffset, pkg: sp, size: cw.n, sum: hex.EncodeToString(h.Sum(nil)),
		href: path.Join("Packages", strings.ToLower(name[:1]), name)}
	in.md, err = repodata.NewPackage(sp, repodata.FileInfo{Href: in.href, Size: in.size, Mtime: stamp.Unix(), Checksum: in.sum})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return in, nil
}

func safeFileName(n string) bool {
	if n == "" || n[0] == '.' {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+~^-", c) >= 0) {
			return false
		}
	}
	return true
}

// lockRepo serializes publishers of one repository (flock on .meta/lock):
// two concurrent swaps would each drop the other's packages.
func lockRepo(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the repository: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the repository: %w", err)
	}
	return func() { f.Close() }, nil
}

// listPackages lists dir's packages, leaving out the metadata directory.
func listPackages(dir string) ([]rpmdir.File, error) {
	return rpmdir.List(dir, linkName)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writePackages writes the signed packages (header parts from memory, the
// payload copied from the source file) in parallel, then makes them durable
// with one syncfs instead of an fsync per file.
func writePackages(ctx context.Context, dir string, ins []*input, stamp time.Time) error {
	if len(ins) == 0 {
		return nil
	}
	if err := forEach(ctx, len(ins), func(i int) error { return writePackage(dir, ins[i], stamp) }); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil // made durable by writeGeneration's syncfs
}

func writePackage(dir string, in *input, stamp time.Time) error {
	src, err := os.Open(in.src)
	if err != nil {
		return err
	}
	defer src.Close()
	// A source changed since it was checked shows as a checksum mismatch below.
	if _, err := src.Seek(in.off, io.SeekStart); err != nil {
		return err
	}
	dest := filepath.Join(dir, filepath.FromSlash(in.href))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".tmp-"+filepath.Base(dest)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	cw := &countWriter{w: h}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, cw), 64<<10)
	if err := in.pkg.Write(bw, src); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != in.sum || cw.n != in.size {
		return fmt.Errorf("%s: changed while publishing", in.src)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), stamp, stamp); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// syncFS flushes the whole filesystem holding dir (one syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// writeGeneration writes a complete metadata generation aside, then swaps
// the repodata symlink to it, and prunes generations nobody can reach.
func writeGeneration(dir string, pkgs []*repodata.Package, opt Options, stamp time.Time, prev *repodata.State) (string, error) {
	tmp, err := os.MkdirTemp(filepath.Join(dir, metaDir), ".tmp-gen-")
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	defer os.RemoveAll(tmp)
	md, err := repodata.WriteMetadata(tmp, pkgs, repodata.WriteOptions{Compression: opt.Compression, Timestamp: stamp.Unix(), Previous: prev, NoSync: true})
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	repomd := md.Marshal()
	var sig []byte
	if opt.Key != nil {
		if sig, err = opt.Key.SignArmored(bytes.NewReader(repomd), stamp); err != nil {
			return "", fmt.Errorf("publish: signing repomd.xml: %w", err)
		}
	}
	// The files the previous repomd.xml names stay reachable through the new
	// link (only those: older ones must not pile up generation after generation).
	prevGen, _ := currentGeneration(dir)
	if old := prevRepomd(dir, prevGen, prev); prevGen != "" && old != nil {
		for _, r := range old.Records {
			n := path.Base(r.Href)
			if !strings.HasPrefix(r.Href, "repodata/") || strings.HasPrefix(n, ".") || n == "repomd.xml" {
				continue
			}
			if _, err := os.Lstat(filepath.Join(tmp, n)); err == nil {
				continue
			}
			if err := os.Link(filepath.Join(dir, metaDir, prevGen, n), filepath.Join(tmp, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("publish: keeping old metadata %s: %w", n, err)
			}
		}
	}
	if sig != nil {
		if err := os.WriteFile(filepath.Join(tmp, "repomd.xml.asc"), sig, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "repomd.xml"), repomd, 0o644); err != nil {
		return "", err
	}
	// One syncfs makes packages and the whole generation durable before
	// anything points at them.
	if err := syncFS(tmp); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(repomd, sig...))
	gen := fmt.Sprintf("%d-%s", stamp.Unix(), hex.EncodeToString(sum[:8]))
	final := filepath.Join(dir, metaDir, gen)
	if gen == prevGen {
		return gen, nil
	}
	os.RemoveAll(final) // a leftover of an interrupted publish that never got linked
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if err := swapLink(dir, path.Join(metaDir, gen)); err != nil {
		return "", err
	}
	prune(dir, gen, prevGen)
	return gen, nil
}

// prevRepomd is the repomd.xml of generation prevGen: the one the update
// read (the repository is locked since), or read again.
func prevRepomd(dir, prevGen string, prev *repodata.State) *repodata.Repomd {
	if prevGen == "" {
		return nil
	}
	if prev != nil && prev.Repomd != nil {
		return prev.Repomd
	}
	raw, err := os.ReadFile(filepath.Join(dir, metaDir, prevGen, "repomd.xml"))
	if err != nil {
		return nil
	}
	old, err := repodata.ParseRepomd(raw)
	if err != nil {
		return nil
	}
	return old
}

// currentGeneration is the generation repodata points at ("" for none).
func currentGeneration(dir string) (string, error) {
	t, err := os.Readlink(filepath.Join(dir, linkName))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(t, metaDir+"/") {
		return "", fmt.Errorf("%s/%s points at %q, outside %s", dir, linkName, t, metaDir)
	}
	return strings.TrimPrefix(t, metaDir+"/"), nil
}

func swapLink(dir, target string) error {
	link := filepath.Join(dir, linkName)
	if fi, err := os.Lstat(link); err == nil && fi.IsDir() {
		// A plain directory (e.g. from createrepo_c) cannot be replaced
		// atomically by a symlink: move it aside first.
		if err := os.Rename(link, filepath.Join(dir, metaDir, "legacy-repodata")); err != nil {
			return fmt.Errorf("publish: moving the old repodata directory aside: %w", err)
		}
	}
	tmp := filepath.Join(dir, metaDir, ".tmp-link")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("publish: swapping repodata: %w", err)
	}
	return atomicfile.SyncDir(dir)
}

// prune removes generations other than the current and the previous one.
func prune(dir, cur, prev string) {
	ents, _ := os.ReadDir(filepath.Join(dir, metaDir))
	for _, e := range ents {
		n := e.Name()
		if n == cur || n == prev || strings.HasPrefix(n, ".") || n == "legacy-repodata" || n == "lock" {
			continue
		}
		os.RemoveAll(filepath.Join(dir, metaDir, n))
	}
}

func cleanTemps(dir string) {
	ents, _ := os.ReadDir(filepath.Join(dir, metaDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(dir, metaDir, e.Name()))
		}
	}
}

// writeClientFiles writes the public key pub and the .repo file for dnf.
func writeClientFiles(dir string, opt Options, pub []byte, stamp time.Time) error {
	base := opt.BaseURL
	if base == "" {
		base = "file://" + dir
	}
	base = strings.TrimRight(base, "/")
	id, title := orKeel(opt.Name), opt.Title
	if title == "" {
		title = "Keel Linux"
		if opt.Name != "" {
			title = opt.Name
		}
	}
	repoFile := fmt.Sprintf("[%s]\nname=%s (%s)\nbaseurl=%s/\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=%s/%s\n",
		id, title, id, base, base, KeyFile(id))
	for name, data := range map[string][]byte{KeyFile(id): pub, RepoFile(id): []byte(repoFile)} {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := writeAtomic(p, data, stamp); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces p with data, dated mtime (reproducible client files).
func writeAtomic(p string, data []byte, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(p, 0o644, func(f *os.File) error {
		if _, err := f.Write(data); err != nil {
			return err
		}
		return os.Chtimes(f.Name(), mtime, mtime)
	})
}

// sameHeader reports whether the package at p has exactly in's main header
// (same package, possibly signed at another time).
func sameHeader(p string, in *rpm.Package) bool {
	old, err := rpm.Open(p)
	return err == nil && bytes.Equal(old.HeaderBlob, in.HeaderBlob)
}
