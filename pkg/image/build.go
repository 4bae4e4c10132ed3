package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/oci"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo/remote"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
	"github.com/keel-linux/keel/pkg/rootfs"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/rpmdb"
)

// Options controls Build.
type Options struct {
	Definition *Definition
	// Repos are rpm-md repositories: directories, file://, http:// or
	// https:// URLs; commas separate mirrors of one repository.
	Repos []string
	// Cache holds downloaded metadata and packages (nil: under the Keel
	// cache, $KEEL_CACHE or ~/.cache/keel).
	Cache *remote.Cache
	// Out receives Out/<name>/: the outputs and manifest.json. The
	// directory is built aside and renamed into place.
	Out string
	// SourceDateEpoch stamps everything; 0: the newest package build
	// time, so that two builds of the same inputs give the same bytes.
	SourceDateEpoch int64
	// Trusted, TrustedKeys (public key files or fingerprints of keys in
	// KeyStore) and the definition's trusted_keys are the keys repomd.xml
	// and every package must be signed with; with none of them, KeyStore's
	// keys. AllowUnsigned checks nothing (dnf's gpgcheck=0) and the
	// manifest says so.
	Trusted       *pgp.Keyring
	TrustedKeys   []string
	KeyStore      string
	AllowUnsigned bool
	// LockFile, when set, receives the lock of what was resolved
	// (<image>.lock) once the image is in place. Locked composes exactly
	// the set a lock lists, or fails naming what moved; it writes no lock.
	LockFile string
	Locked   *Lock
	// RootOnly stops after composing the root (Out/<name>/rootfs), for
	// benchmarks and the bootable pipeline.
	RootOnly bool
	// InspectRoot, when set, sees the composed root before the outputs are
	// written (baseline checks, image SBOMs); an error fails the build. dir
	// is the image's staging directory, where it may add files.
	InspectRoot func(root, dir string, m *Manifest) error
	// Bootable images (bootable.go): Key signs a verity root hash (the
	// distro key; its Ed25519 public key goes into the initramfs);
	// SecureBootKey/Cert (PEM paths) sign the UKI with sbsign.
	Key                           *pgp.Key
	SecureBootKey, SecureBootCert string
	// SELinuxPolicy is the directory of the policy's CIL sources (default:
	// selinux/ beside the definition's images/ directory).
	SELinuxPolicy string
}

// Manifest describes a built image: what it contains and what was written.
// Scanners read "packages" (name, epoch, version, release, arch, source).
type Manifest struct {
	Image           string `json:"image"`
	Arch            string `json:"arch"`
	SourceDateEpoch int64  `json:"source_date_epoch"`
	// TrustedKeys are the fingerprints repomd.xml and every package were
	// verified against; AllowUnsigned records that nothing was.
	TrustedKeys   []string          `json:"trusted_keys,omitempty"`
	AllowUnsigned bool              `json:"allow_unsigned,omitempty"`
	Packages      []ManifestPackage `json:"packages"`
	Files         int               `json:"files"` // entries in the root filesystem
	Size          int64             `json:"size"`  // bytes of regular files
	Outputs       []OutputInfo      `json:"outputs"`
	Boot          *BootInfo         `json:"boot,omitempty"`    // bootable images
	SELinux       *SELinuxInfo      `json:"selinux,omitempty"` // images with a policy (selinux: permissive|enforcing)
	Init          *InitInfo         `json:"init,omitempty"`    // what keel-init must report (bootable images)
}

// PackageNames lists the installed packages' names, in manifest order.
func (m *Manifest) PackageNames() []string {
	names := make([]string, len(m.Packages))
	for i, p := range m.Packages {
		names[i] = p.Name
	}
	return names
}

// BootExpect is what keel boot checks on this bootable image (boot.ImageExpect
// of its name, kernel, command line, root hash and packages).
func (m *Manifest) BootExpect() ([]boot.Expectation, error) {
	if m.Boot == nil {
		return nil, fmt.Errorf("image %s is not bootable (its manifest has no boot section)", m.Image)
	}
	ex, err := boot.ImageExpect(m.Image, m.Boot.KernelRelease, m.Boot.Cmdline, m.Boot.RootHash, m.PackageNames())
	if err != nil {
		return nil, err
	}
	if m.SELinux != nil {
		ex = append(ex, boot.SELinuxExpect(m.SELinux.Mode, m.SELinux.PolicySHA256)...)
	}
	return append(ex, m.Init.expect()...), nil
}

// BootPlan is how keel boot and the release cut boot this image: disk (or,
// when "", the first of its raw, qcow2 and vhd outputs under dir), UEFI
// with Secure Boot enforced when its UKI is signed (cert, when given, is
// enrolled for the run; without one the image boots without enforcement),
// and BootExpect.
func (m *Manifest) BootPlan(dir, disk, cert string) (boot.Plan, error) {
	ex, err := m.BootExpect()
	if err != nil {
		return boot.Plan{}, err
	}
	if disk == "" {
		for _, want := range []string{"raw", "qcow2", "vhd"} {
			for _, o := range m.Outputs {
				if o.Format == want && disk == "" {
					disk = filepath.Join(dir, o.Path)
				}
			}
		}
	}
	if disk == "" {
		return boot.Plan{}, fmt.Errorf("image %s: no disk output to boot (raw, qcow2 or vhd)", m.Image)
	}
	// Every Keel Linux VM takes its address by DHCP: slirp's, restricted.
	p := boot.Plan{Disk: disk, Firmware: boot.OVMF, Expect: ex, Net: &boot.Network{}}
	if m.Boot.SecureBoot && cert != "" {
		p.Firmware, p.EnrollCert = boot.OVMFSecureBoot, cert
		p.Expect = append(p.Expect, m.TrustExpect()...)
	}
	return p, nil
}

// ManifestPackage is one installed package.
type ManifestPackage struct {
	Name      string `json:"name"`
	Epoch     int    `json:"epoch"`
	Version   string `json:"version"`
	Release   string `json:"release"`
	Arch      string `json:"arch"`
	Source    string `json:"source"`    // source package name
	SourceRPM string `json:"sourcerpm"` // source RPM file name
	SHA256    string `json:"sha256"`    // of the .rpm
	Size      int64  `json:"size"`      // of the .rpm
	// Origin is the URL the package comes from, for remote repositories
	// (the first mirror's: the same whichever answered).
	Origin string `json:"origin,omitempty"`
}

// OutputInfo is one written artifact.
type OutputInfo struct {
	Format string `json:"format"`
	Path   string `json:"path"`             // relative to the image directory
	SHA256 string `json:"sha256,omitempty"` // of the file (docker-archive, rootfs-tar)
	Size   int64  `json:"size"`             // bytes on disk
	Digest string `json:"digest,omitempty"` // image manifest digest (oci)
	Ref    string `json:"ref,omitempty"`
}

// Result reports a build.
type Result struct {
	Dir      string // Out/<name>
	Manifest *Manifest
	Resolved []*resolve.Package
	Lock     *Lock // what was resolved (nil when built from Options.Locked)
}

// Build composes the image and writes its outputs. It reports one step
// (kind image) to logctx.FromContext(ctx), with its stages as detail.
func Build(ctx context.Context, opt Options) (*Result, error) {
	if opt.Definition == nil {
		return nil, errors.New("image build: no definition")
	}
	step := logctx.StartStep(ctx, "image", opt.Definition.Name, "composing", "image_kind", opt.Definition.Kind)
	res, err := build(step.Context(ctx), opt)
	if err != nil {
		step.Fail(err)
		return nil, err
	}
	step.Done("composed", "packages", len(res.Manifest.Packages), "size", res.Manifest.Size)
	return res, nil
}

func build(ctx context.Context, opt Options) (*Result, error) {
	d := opt.Definition
	if d == nil {
		return nil, errors.New("image build: no definition")
	}
	if len(opt.Repos) == 0 {
		return nil, errors.New("image build: no repository (--repo)")
	}
	if d.Kind == "bootable" && !opt.RootOnly {
		if err := checkBootOptions(d, opt); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
	}
	d, selinuxInfo, err := withSELinux(ctx, d, opt)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", opt.Definition.Name, err)
	}
	log := logctx.FromContext(ctx)
	var trusted *pgp.Keyring
	if opt.AllowUnsigned {
		log.Warn("repository and package signatures are NOT checked (--allow-unsigned; recorded in manifest.json)")
	} else {
		var err error
		if trusted, err = trustedKeys(d, opt); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
	}
	cache := opt.Cache
	if cache == nil {
		cache = &remote.Cache{Dir: remote.CacheDir(distro.DefaultCache())}
	}
	pkgs, err := LoadRepos(ctx, opt.Repos, trusted, cache)
	if err != nil {
		return nil, err
	}
	if opt.Locked != nil {
		// Only the locked packages are candidates: whatever the
		// repositories gained since cannot be picked.
		if pkgs, err = opt.Locked.pick(d, pkgs); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
	}
	pool, err := resolve.NewPool(pkgs, d.Arch)
	if err != nil {
		return nil, err
	}
	res, err := pool.Resolve(resolve.Request{Install: d.Packages, Exclude: d.Exclude, AssumeProvided: d.AssumeProvided})
	if err != nil && opt.Locked != nil {
		return nil, fmt.Errorf("image %s: lock %s no longer resolves: %w: %s", d.Name, opt.Locked.path, err, staleHint)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d.Name, err)
	}
	if opt.Locked != nil {
		if err := opt.Locked.checkSame(res.Packages); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
	}
	log.Info("resolved", "packages", len(res.Packages))
	if err := fetchPackages(ctx, cache, opt.Repos, res.InstallOrder()); err != nil {
		return nil, fmt.Errorf("image %s: %w", d.Name, err)
	}
	sde := opt.SourceDateEpoch
	if trusted != nil || sde == 0 {
		newest, err := checkHeaders(ctx, res.InstallOrder(), trusted)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
		if sde == 0 {
			sde = newest
		}
	}

	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	final := filepath.Join(opt.Out, d.Name)
	stage, err := os.MkdirTemp(opt.Out, ".keel-image-"+d.Name+"-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	root := filepath.Join(stage, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	man, err := Install(ctx, d, res.InstallOrder(), root, sde)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d.Name, err)
	}
	man.SourceDateEpoch = sde
	man.SELinux = selinuxInfo
	man.AllowUnsigned = opt.AllowUnsigned
	if trusted != nil {
		man.TrustedKeys = trusted.Fingerprints()
	}
	log.Info("installed", "files", man.Files)
	if opt.InspectRoot != nil {
		if err := opt.InspectRoot(root, stage, man); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
	}
	if !opt.RootOnly {
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, err
		}
		write := func() error { return writeOutputs(d, r, stage, man, sde) }
		if d.Kind == "bootable" {
			write = func() error { return writeBootable(ctx, d, opt, r, root, stage, man, sde) }
		}
		err = write()
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
		if err := os.RemoveAll(root); err != nil {
			return nil, err
		}
	}
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, "manifest.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, err
	}
	// Replace the previous image only once the new one is complete.
	old := ""
	if _, err := os.Lstat(final); err == nil {
		old = final + ".old-" + filepath.Base(stage)
		if err := os.Rename(final, old); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(stage, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return nil, err
	}
	ok = true
	if old != "" {
		os.RemoveAll(old)
	}
	r := &Result{Dir: final, Manifest: man, Resolved: res.Packages}
	if opt.Locked == nil {
		r.Lock = newLock(d, repoURLs(opt.Repos), res.Packages)
		if opt.LockFile != "" {
			if err := WriteLock(opt.LockFile, r.Lock); err != nil {
				return nil, fmt.Errorf("image %s: lock: %w", d.Name, err)
			}
		}
	}
	return r, nil
}

// sourceName is the source package's name from its file name.
func sourceName(srpm string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(srpm, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	for i := 0; i < 2; i++ {
		if j := strings.LastIndexByte(s, '-'); j > 0 {
			s = s[:j]
		}
	}
	return s
}

// openChecked opens a package and checks it against its metadata: file
// checksum, then the header and payload digests.
func openChecked(p *resolve.Package) (*rpm.Package, error) {
	if !repodata.ValidHref(p.Href) {
		return nil, fmt.Errorf("%s: location %q leaves the repository", p.NEVRA(), p.Href)
	}
	path := pkgPath(p)
	if fi, err := os.Stat(path); err == nil && fi.Size() <= inMemoryRPM {
		pk, err := openSmall(p, path)
		if err != nil {
			return nil, err
		}
		return checkNEVRA(p, path, pk)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != p.Checksum {
		return nil, fmt.Errorf("%s: sha256 %s, repository metadata says %s", path, sum, p.Checksum)
	}
	pk, err := rpm.Open(path)
	if err != nil {
		return nil, err
	}
	if err := pk.VerifyDigests(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return checkNEVRA(p, path, pk)
}

// Payloads of packages installing at most aheadMax bytes are decompressed
// ahead of extraction, at most aheadBudget bytes' worth at a time.
const (
	aheadMax    = 256 << 10
	aheadBudget = 64 << 20
)

// decompressAhead returns p's cpio archive, or nil to leave it to the
// extraction (which then reports any error).
func decompressAhead(p *rpm.Package) []byte {
	pl, err := p.Payload()
	if err != nil {
		return nil
	}
	defer pl.Close()
	// The header's size is a hint only: never hold more than 4× of it.
	data, err := io.ReadAll(io.LimitReader(pl, 4*aheadMax+1))
	if err != nil || len(data) > 4*aheadMax {
		return nil
	}
	return data
}

// inMemoryRPM: packages up to this size are read once; the checks and the
// extraction then work from memory instead of opening the file three times.
const inMemoryRPM = 4 << 20

func openSmall(p *resolve.Package, path string) (*rpm.Package, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != p.Checksum {
		return nil, fmt.Errorf("%s: sha256 %x, repository metadata says %s", path, sum, p.Checksum)
	}
	pk, err := rpm.ReadPackage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("rpm %s: %w", path, err)
	}
	if err := pk.VerifyDigestsFrom(bytes.NewReader(data[pk.PayloadOffset:])); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Extraction reads the rest of data; a second reader reopens the file.
	pk.Path = path
	return pk, nil
}

func checkNEVRA(p *resolve.Package, path string, pk *rpm.Package) (*rpm.Package, error) {
	if pk.Header.Name() != p.Name || rpm.Compare(pk.Header.EVR(), p.EVR) != 0 {
		return nil, fmt.Errorf("%s: is %s, repository metadata says %s", path, pk.NEVRA(), p.NEVRA())
	}
	return pk, nil
}

type owner struct {
	pkg  string
	file rpm.File
}

// checkFileConflicts refuses two packages shipping one path differently,
// and returns who ships what.
func checkFileConflicts(pkgs []*rpm.Package) (owners, error) {
	own := owners{}
	for _, p := range pkgs {
		files, err := p.Header.Files()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.NEVRA(), err)
		}
		for _, f := range files {
			if f.IsGhost() {
				continue
			}
			o, ok := own[f.Path]
			if !ok {
				own[f.Path] = owner{p.NEVRA(), f}
				continue
			}
			g := o.file
			if f.IsDir() && g.IsDir() {
				continue
			}
			if f.Mode != g.Mode || f.Digest != g.Digest || f.LinkTo != g.LinkTo {
				return nil, fmt.Errorf("file %s conflicts between %s and %s (different content or type)", f.Path, o.pkg, p.NEVRA())
			}
		}
	}
	return own, nil
}

// Install puts pkgs into root: checks, extraction, scriptlets, users and
// files from the definition, the rpm database and package manifests.
func Install(ctx context.Context, d *Definition, pkgs []*resolve.Package, root string, sde int64) (*Manifest, error) {
	start := time.Now()
	// Checksums and digests are CPU-bound: check packages in parallel, and
	// extract each one (in order) as soon as it is checked. Nothing checked
	// later can leave a partial image: Build discards the stage on error.
	opened := make([]*rpm.Package, len(pkgs))
	errs := make([]error, len(pkgs))
	checked := make([]chan struct{}, len(pkgs))
	next := make(chan int, len(pkgs))
	for i := range pkgs {
		checked[i] = make(chan struct{})
		next <- i
	}
	close(next)
	// Small payloads are also decompressed by these workers, so the
	// extraction loop is left with the filesystem work (memory bounded by
	// aheadBudget; anything else streams from the file as before).
	cpios := make([][]byte, len(pkgs))
	var budget atomic.Int64
	budget.Store(aheadBudget)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		go func() {
			for i := range next {
				opened[i], errs[i] = openChecked(pkgs[i])
				if errs[i] == nil && opened[i].Header.Size() <= aheadMax && budget.Load() > 0 {
					if data := decompressAhead(opened[i]); data != nil {
						if budget.Add(-int64(len(data))) >= 0 {
							cpios[i] = data
						} else {
							budget.Add(int64(len(data)))
						}
					}
				}
				close(checked[i])
			}
		}()
	}
	xctx, cancel := context.WithCancel(ctx)
	defer cancel()
	extracted := make(chan error, 1)
	policy := rpm.ExtractPolicy{AllowSetuid: d.Setuid, AllowAbsoluteSymlinks: true, Chown: os.Getuid() == 0}
	go func() {
		for i := range pkgs {
			<-checked[i]
			if errs[i] != nil {
				extracted <- nil // reported below
				return
			}
			var err error
			if cpios[i] != nil {
				p := policy
				p.Package = opened[i].NEVRA()
				err = rpm.Extract(xctx, bytes.NewReader(cpios[i]), root, p)
				budget.Add(int64(len(cpios[i])))
				cpios[i] = nil
			} else {
				err = rpm.ExtractPackage(xctx, opened[i], root, policy)
			}
			if err != nil {
				extracted <- err
				return
			}
		}
		extracted <- nil
	}()
	fail := func(err error) (*Manifest, error) {
		cancel()
		<-extracted
		return nil, err
	}
	for i := range checked {
		<-checked[i]
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	own, err := checkFileConflicts(opened)
	if err != nil {
		return fail(err)
	}
	plan, err := planScriptlets(d, opened)
	if err != nil {
		return fail(err)
	}
	// The database needs only the headers: write it while extracting.
	dbStage := root + ".rpmdb"
	defer os.RemoveAll(dbStage)
	if err := writeRPMDB(d, dbStage, opened, sde); err != nil {
		return fail(err)
	}
	if err := <-extracted; err != nil {
		return nil, err
	}
	// From here on every file operation in the root is confined to it.
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := checkClosed(r, own); err != nil {
		return nil, err
	}
	if d.WantRPMDB() {
		if err := refuseLinks(r, own, rpmdb.Path, "refusing to write the rpm database through it", false); err != nil {
			return nil, err
		}
		if err := r.MkdirAll(path.Dir(rpmdb.Path), 0o755); err != nil {
			return nil, err
		}
		if err := rootfs.MoveIn(filepath.Join(dbStage, rpmdb.Path), r, rpmdb.Path); err != nil {
			return nil, err
		}
	}
	if err := plan.run(ctx, r, root); err != nil {
		return nil, err
	}
	// A sandboxed scriptlet may have planted links too (ldconfig's are
	// sonames beside their libraries).
	if len(plan.sandboxed) > 0 {
		if err := checkClosed(r, own); err != nil {
			return nil, err
		}
	}
	if d.WantRPMDB() && len(plan.sandboxed) > 0 {
		if err := refuseLinks(r, own, rpmdb.Path, "the rpm database (a scriptlet replaced it)", false); err != nil {
			return nil, err
		}
	}
	if err := applyAccounts(d, r, own); err != nil {
		return nil, err
	}
	for _, f := range d.Files {
		if err := writeFileIn(r, own, f); err != nil {
			return nil, err
		}
	}
	if err := applyInit(d, r, own); err != nil {
		return nil, err
	}
	man := &Manifest{Image: d.Name, Arch: d.Arch, Init: d.initInfo()}
	for i, p := range pkgs {
		pk := opened[i]
		man.Packages = append(man.Packages, ManifestPackage{Name: p.Name, Epoch: p.EVR.Epoch, Version: p.EVR.Version,
			Release: p.EVR.Release, Arch: p.Arch, Source: sourceName(pk.Header.SourceRPM()), SourceRPM: pk.Header.SourceRPM(),
			SHA256: p.Checksum, Size: p.Size, Origin: origin(p)})
	}
	sort.Slice(man.Packages, func(i, j int) bool {
		a, b := man.Packages[i], man.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	for _, m := range d.Manifests {
		if m == "container-manifest-2" {
			if err := writeContainerManifest(r, own, opened, sde); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range d.Remove {
		if err := removeIn(r, p); err != nil {
			return nil, err
		}
	}
	n, size, err := clampTimes(r, sde, start)
	if err != nil {
		return nil, err
	}
	man.Files, man.Size = n, size
	return man, nil
}

// writeRPMDB writes the rpm database (in install order) under a staging
// directory beside the root; Install moves it in after extraction, so the
// two never race on directories.
func writeRPMDB(d *Definition, root string, pkgs []*rpm.Package, sde int64) error {
	if !d.WantRPMDB() {
		return nil
	}
	var blobs [][]byte
	for _, pk := range pkgs {
		b, err := rpmdb.InstalledHeader(pk, sde)
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
	}
	return rpmdb.Write(root, blobs)
}

// writeContainerManifest writes rpm's container-manifest-2 (what
// `rpm -qa --qf` writes for UBI micro images and syft reads): one line per
// package, tab-separated name, version-release, install time, build time,
// vendor, epoch, size, arch, epoch number, source RPM.
func writeContainerManifest(r *os.Root, own owners, pkgs []*rpm.Package, sde int64) error {
	var b strings.Builder
	sorted := append([]*rpm.Package(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].NEVRA() < sorted[j].NEVRA() })
	for _, p := range sorted {
		h := p.Header
		ep, has := h.Epoch()
		es := "(none)"
		if has {
			es = fmt.Sprint(ep)
		}
		vendor := h.Vendor()
		if vendor == "" {
			vendor = "(none)"
		}
		fmt.Fprintf(&b, "%s\t%s-%s\t%d\t%d\t%s\t%s\t%d\t%s\t%d\t%s\n", h.Name(), h.Version(), h.Release(), sde,
			h.BuildTime().Unix(), vendor, es, h.Size(), h.Arch(), ep, h.SourceRPM())
	}
	const p = "/var/lib/rpmmanifest/container-manifest-2"
	if err := refuseLinks(r, own, p, "refusing to write the package manifest through it", false); err != nil {
		return err
	}
	return writeOwned(r, p, []byte(b.String()), 0o644)
}

// writeFileIn writes a definition's file: its parents must be real
// directories (use the real path); a link in its place is replaced.
func writeFileIn(r *os.Root, own owners, f File) error {
	mode := os.FileMode(0o644)
	if f.Mode != "" {
		mode, _ = parseMode(f.Mode)
	}
	if err := refuseLinks(r, own, f.Path, "files: "+f.Path+": use the real path", true); err != nil {
		return err
	}
	return writeOwned(r, f.Path, []byte(f.Content), mode)
}

// clampTimes sets the mtime of everything this build touched (created
// directories, the rpm database, accounts, files) to SOURCE_DATE_EPOCH;
// package files keep the mtimes their headers record. It also counts the
// entries and regular-file bytes under root (one walk instead of two).
func clampTimes(r *os.Root, sde int64, since time.Time) (n int, size int64, err error) {
	t := time.Unix(sde, 0)
	cut := since.Add(-2 * time.Second)
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if p != "." {
			n++
			if d.Type().IsRegular() {
				size += fi.Size()
			}
		}
		// Directory mtimes depend on extraction order (and rpm -V does not
		// check them): always SOURCE_DATE_EPOCH.
		if !fi.ModTime().After(cut) && !d.IsDir() {
			return nil
		}
		return rootfs.Lchtimes(r, p, t)
	})
	return n, size, err
}

func writeOutputs(d *Definition, r *os.Root, stage string, man *Manifest, sde int64) error {
	cfg := oci.Config{Arch: d.Arch, Created: time.Unix(sde, 0).UTC()}
	if c := d.Container; c != nil {
		cfg.Entrypoint, cfg.Cmd, cfg.Env, cfg.WorkingDir, cfg.User, cfg.Labels = c.Entrypoint, c.Cmd, c.Env, c.WorkingDir, c.User, c.Labels
	}
	if len(cfg.Env) == 0 {
		cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"}
	}
	for _, o := range d.Outputs {
		tag := o.Tag
		if tag == "" {
			tag = "latest"
		}
		ref := d.Name + ":" + tag
		switch o.Format {
		case "oci":
			img, _, err := oci.Image(r, cfg, false)
			if err != nil {
				return err
			}
			dir := filepath.Join(stage, "oci")
			if err := oci.WriteLayout(dir, img, tag); err != nil {
				return err
			}
			dg, err := img.Digest()
			if err != nil {
				return err
			}
			sz, err := dirSize(dir)
			if err != nil {
				return err
			}
			man.Outputs = append(man.Outputs, OutputInfo{Format: "oci", Path: "oci", Size: sz, Digest: dg.String(), Ref: tag})
		case "docker-archive":
			img, _, err := oci.Image(r, cfg, true)
			if err != nil {
				return err
			}
			p := filepath.Join(stage, d.Name+".docker.tar")
			if err := oci.WriteDockerArchive(p, img, ref); err != nil {
				return err
			}
			dg, err := img.Digest()
			if err != nil {
				return err
			}
			info, err := fileInfo(p)
			if err != nil {
				return err
			}
			info.Format, info.Path, info.Digest, info.Ref = "docker-archive", filepath.Base(p), dg.String(), ref
			man.Outputs = append(man.Outputs, info)
		case "rootfs-tar":
			p := filepath.Join(stage, d.Name+".rootfs.tar")
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := oci.LayerTar(r, time.Unix(sde, 0), f); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			info, err := fileInfo(p)
			if err != nil {
				return err
			}
			info.Format, info.Path = "rootfs-tar", filepath.Base(p)
			man.Outputs = append(man.Outputs, info)
		default:
			return fmt.Errorf("output %s: built by the bootable pipeline, not keel image build yet", o.Format)
		}
	}
	return nil
}

func fileInfo(p string) (OutputInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return OutputInfo{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return OutputInfo{}, err
	}
	return OutputInfo{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
