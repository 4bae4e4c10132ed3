package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/assess"
	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/lifecycle"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/release/render"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/source"
)

// Options for Cut.
type Options struct {
	Distro   *distro.Distro
	Cache    string    // Keel cache (builds are shared with `keel build`)
	Dir      string    // the releases/ directory
	Date     time.Time // release date (UTC day); zero = today
	Channel  string    // preview (default) or stable
	Security bool      // out-of-band security release
	Key      *pgp.Key  // signs packages, repository, manifest, provenance, guard's root hash
	// SecureBootKey and SecureBootCert sign bootable images' UKIs (PEM files;
	// uki.InitSigningKey makes them). Needed when the tree has a guard image.
	SecureBootKey, SecureBootCert string
	AllowDirty                    bool // cut from a git tree with uncommitted changes
	KeelVersion                   string
}

// Result of a cut.
type Result struct {
	Dir      string             `json:"dir"`
	Manifest *manifest.Manifest `json:"-"`
	NoOp     bool               `json:"noop"`
}

// GateError is a cut refused by failing gates; Report is readable as is.
type GateError struct{ Report string }

func (e *GateError) Error() string { return "release gates failed:\n" + e.Report }

// Cut builds, publishes, gates, documents and signs one release. Nothing
// under Dir changes unless the whole cut succeeds: the release is staged
// in Dir/.tmp-* and renamed into place, then index.json is replaced.
//
// Each stage is a step (kind stage) of logctx.FromContext(ctx); what runs
// inside a stage (package builds, images, boots) reports its own steps,
// with the stage as their parent.
func Cut(ctx context.Context, opt Options) (_ *Result, err error) {
	log := logctx.FromContext(ctx)
	var cur *logctx.Step
	// stage ends the running stage and starts the next; its context labels
	// what runs inside.
	stage := func(name, msg string) context.Context {
		cur = logctx.StartStep(ctx, "stage", name, msg)
		return cur.Context(ctx)
	}
	done := func(msg string, args ...any) {
		cur.Done(msg, args...)
		cur = nil
	}
	defer func() {
		if err != nil && cur != nil {
			cur.Fail(err)
		}
	}()
	d := opt.Distro
	if opt.Channel == "" {
		opt.Channel = "preview"
	}
	if opt.Channel != "preview" && opt.Channel != "stable" {
		return nil, fmt.Errorf("channel %q: want preview or stable", opt.Channel)
	}
	if opt.Key == nil {
		return nil, errors.New("no signing key: run `keel keys init` (or pass --keys DIR)")
	}
	if opt.Date.IsZero() {
		opt.Date = time.Now().UTC()
	}
	date := opt.Date.UTC().Format("2006-01-02")
	version := d.Config.Version + "." + opt.Date.UTC().Format("20060102")
	rcfg, err := LoadConfig(d)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, err
	}
	idx, err := manifest.ReadIndex(opt.Dir)
	if err != nil {
		return nil, err
	}
	gitRev, dirty := gitState(d.Dir)
	if dirty && !opt.AllowDirty {
		return nil, fmt.Errorf("%s has uncommitted changes (git status); commit them or pass --allow-dirty — a release must be reproducible from a revision", d.Dir)
	}
	digest, err := inputDigest(d, opt)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(opt.Dir, version)
	if e := idx.Find(version); e != nil {
		m, err := manifest.ReadManifest(final)
		if err != nil {
			return nil, fmt.Errorf("release %s is in the index but unreadable: %w", version, err)
		}
		if m.InputDigest == digest {
			log.Info("up to date: already cut from these inputs", "version", version)
			return &Result{Dir: final, Manifest: m, NoOp: true}, nil
		}
		return nil, fmt.Errorf("release %s already exists from other inputs; releases are immutable: cut with another --date", version)
	}
	var prev *manifest.Manifest
	if last := idx.Latest(); last != nil {
		if last.Date > date {
			return nil, fmt.Errorf("date %s is earlier than the last release %s (%s)", date, last.Version, last.Date)
		}
		if prev, err = manifest.ReadManifest(filepath.Join(opt.Dir, last.Version)); err != nil {
			return nil, fmt.Errorf("previous release %s: %w", last.Version, err)
		}
		if err := verifyArtifacts(filepath.Join(opt.Dir, last.Version), prev); err != nil {
			return nil, fmt.Errorf("previous release %s is corrupted, refusing to build on it: %w", last.Version, err)
		}
	}
	if opt.Security && prev == nil {
		return nil, errors.New("--security needs a previous release to build on")
	}

	tmp, err := os.MkdirTemp(opt.Dir, ".tmp-"+version+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// Every signature and timestamp of the release is the release day, or
	// the key's creation if that is later (OpenPGP refuses signatures older
	// than their key): fixed for a given date and key, so reproducible.
	sigTime := opt.Date.UTC().Truncate(24 * time.Hour)
	if c := opt.Key.Created(); c.After(sigTime) {
		sigTime = c.UTC().Truncate(time.Second)
	}
	opt.Date = sigTime
	sde := sigTime.Unix()

	// 1. Build (incremental: the content-addressed cache is shared).
	sctx := stage("build", "building the packages")
	buildOut, err := os.MkdirTemp(opt.Dir, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(buildOut)
	bres, err := build.Run(sctx, build.Options{Distro: d, Cache: opt.Cache, Out: buildOut})
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	done("built", "source_packages", len(bres.Packages))

	m := &manifest.Manifest{Distro: d.Config.Name, PrettyName: d.Config.PrettyName, Version: version, Date: date, Channel: opt.Channel, Security: opt.Security,
		InputDigest: digest, Keel: opt.KeelVersion, Git: gitRev}
	if prev != nil {
		m.Previous = prev.Version
	}
	var rpms []string
	for _, p := range bres.Packages {
		m.Sources = append(m.Sources, manifest.SourcePackage{Name: p.Name, EVR: p.EVR, Type: p.Type})
		rpms = append(rpms, p.RPMs...)
	}
	if opt.Security {
		stage("select", "selecting the security fixes")
		var fixes []string
		if rpms, fixes, err = securitySelection(ctx, d, bres, prev, filepath.Join(opt.Dir, prev.Version), opt.Date); err != nil {
			return nil, err
		}
		m.Sources = m.Sources[:0]
		for _, p := range bres.Packages {
			if contains(fixes, p.Name) {
				m.Sources = append(m.Sources, manifest.SourcePackage{Name: p.Name, EVR: p.EVR, Type: p.Type})
			}
		}
		for _, s := range prev.Sources {
			if !contains(fixes, s.Name) {
				m.Sources = append(m.Sources, s)
			}
		}
		done("selected", "new", strings.Join(fixes, ","), "rest_from", prev.Version)
	}

	// 2. Publish the signed repository.
	sctx = stage("repo", "signing and publishing the repository")
	if _, err := repo.Publish(sctx, repo.Options{Dir: filepath.Join(tmp, manifest.RepoDir), Packages: rpms, Key: opt.Key, SourceDateEpoch: sde,
		Name: d.Config.Name, Title: d.Config.PrettyName,
		BaseURL: strings.ReplaceAll(rcfg.BaseURL, "{version}", version)}); err != nil {
		return nil, fmt.Errorf("publishing the repository: %w", err)
	}
	if err := readPackages(m, tmp); err != nil {
		return nil, err
	}
	done("published", "binary_packages", len(m.Packages))

	// 3. Images from the release's own signed repository.
	sctx = stage("images", "composing and booting the images")
	if err := os.MkdirAll(filepath.Join(tmp, manifest.ReportsDir), 0o755); err != nil {
		return nil, err
	}
	baselines, boots, err := imagesStage(sctx, tmp, m, d, opt.Date.UTC(), opt)
	if err != nil {
		return nil, err
	}
	done("composed", "images", len(m.Images), "booted", len(boots))

	// 4. Security: scan against the advisories, exports, SBOMs.
	sctx = stage("scan", "scanning for CVEs; advisories and SBOMs")
	if err := os.MkdirAll(filepath.Join(tmp, manifest.ReportsDir), 0o755); err != nil {
		return nil, err
	}
	if err := securityStage(sctx, tmp, m, d, opt.Date.UTC()); err != nil {
		return nil, err
	}
	done("scanned", "findings", len(m.CVEs.Findings), "open", m.CVEs.Open, "fixed", m.CVEs.Fixed, "past_sla", m.CVEs.Breached)

	// 5. Kernels and gates.
	sctx = stage("gates", "checking kernels and gates")
	if err := readKernels(m, sctx, tmp, d, rcfg); err != nil {
		return nil, err
	}
	m.Gates = runGates(bres, m, rcfg, baselines, boots)
	if err := os.MkdirAll(filepath.Join(tmp, manifest.ReportsDir), 0o755); err != nil {
		return nil, err
	}
	for _, p := range bres.Packages {
		if p.Hardening != "" {
			_ = os.MkdirAll(filepath.Join(tmp, manifest.ReportsDir, "hardening"), 0o755)
			if err := atomicfile.Copy(p.Hardening, filepath.Join(tmp, manifest.ReportsDir, "hardening", p.Name+".json")); err != nil {
				return nil, err
			}
		}
	}
	if err := writeJSON(filepath.Join(tmp, manifest.ReportsDir, "gates.json"), m.Gates); err != nil {
		return nil, err
	}
	if rep := failedGates(m.Gates); rep != "" {
		return nil, &GateError{Report: rep}
	}
	done("gates passed", "summary", gateSummary(m.Gates))

	// 6. Notes from data, rendered.
	prevDir := ""
	if prev != nil {
		prevDir = filepath.Join(opt.Dir, prev.Version)
	}
	notes := manifest.CompareDirs(prevDir, prev, tmp, m)
	if err := copyLifecycle(d, tmp); err != nil {
		return nil, err
	}
	if prev != nil {
		up, err := assess.UpgradeReleases(ctx, prevDir, prev, tmp, m, assess.UpgradeOptions{Day: opt.Date})
		if err != nil {
			return nil, fmt.Errorf("upgrade assessment from %s: %w", prev.Version, err)
		}
		notes.Upgrading = up.Notes()
	}
	if err := writeJSON(filepath.Join(tmp, manifest.NotesJSON), notes); err != nil {
		return nil, err
	}
	if err := render.WriteNotes(tmp, notes, m); err != nil {
		return nil, err
	}

	// 7. Provenance for every package, then the manifest of every file, signed.
	stage("sign", "provenance and the signed manifest")
	if err := writeProvenance(tmp, m, bres, d, opt); err != nil {
		return nil, err
	}
	if err := collectArtifacts(m, tmp); err != nil {
		return nil, err
	}
	m.Sort()
	if err := writeJSON(filepath.Join(tmp, manifest.ManifestFile), m); err != nil {
		return nil, err
	}
	if err := signFile(opt.Key, filepath.Join(tmp, manifest.ManifestFile), filepath.Join(tmp, manifest.ManifestSig), opt.Date); err != nil {
		return nil, err
	}
	done("signed", "artifacts", len(m.Artifacts))

	// 8. Commit: rename into place, then the index.
	if err := atomicfile.SyncTree(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	idx.Releases = append(idx.Releases, manifest.IndexEntry{Version: version, Date: date, Channel: opt.Channel, Security: opt.Security})
	idx.Channels[opt.Channel] = version
	if err := idx.Write(opt.Dir); err != nil {
		return nil, err
	}
	if err := render.WriteDashboard(opt.Dir); err != nil {
		return nil, err
	}
	log.Info("release cut", "version", version, "dir", final)
	return &Result{Dir: final, Manifest: m}, nil
}

// copyLifecycle keeps the tree's lifecycle.yaml in the release, so that an
// upgrade assessment of releases alone knows their support dates.
func copyLifecycle(d *distro.Distro, dir string) error {
	src := filepath.Join(d.Dir, lifecycle.FileName)
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := lifecycle.Parse(src, data); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, lifecycle.FileName), data, 0o644)
}

// inputDigest identifies what a release is cut from: the tree, keel, the
// channel and kind.
func inputDigest(d *distro.Distro, opt Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "keel %s\nchannel %s\nsecurity %v\n", opt.KeelVersion, opt.Channel, opt.Security)
	if err := source.HashTree(h, d.Dir); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// gitState returns the commit and whether the tree has uncommitted changes;
// a tree outside git is neither.
func gitState(dir string) (rev string, dirty bool) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	rev = strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output()
	return rev, err == nil && len(strings.TrimSpace(string(st))) > 0
}

// readPackages fills Packages from the published repository's RPMs.
func readPackages(m *manifest.Manifest, dir string) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, manifest.RepoDir, "Packages"), func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() && strings.HasSuffix(p, ".rpm") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	return addPackages(m, dir, files)
}

// addPackages records RPM files; File is relative to dir ("" keeps paths).
func addPackages(m *manifest.Manifest, dir string, files []string) error {
	for _, p := range files {
		pkg, err := rpm.Open(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		h := pkg.Header
		evr := h.EVR()
		sum, err := source.Hash(p)
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel := p
		if dir != "" {
			rel, _ = filepath.Rel(dir, p)
		}
		m.Packages = append(m.Packages, manifest.BinaryPackage{
			Name: h.Name(), Epoch: evr.Epoch, Version: evr.Version, Release: evr.Release, Arch: h.Arch(),
			Source: sourceName(h.SourceRPM()), File: filepath.ToSlash(rel), SHA256: sum, Size: st.Size(),
		})
	}
	return nil
}

// sourceName takes the name from name-version-release.src.rpm.
func sourceName(srpm string) string {
	s := strings.TrimSuffix(srpm, ".src.rpm")
	for i := 0; i < 2; i++ {
		if j := strings.LastIndexByte(s, '-'); j > 0 {
			s = s[:j]
		}
	}
	return s
}

func collectArtifacts(m *manifest.Manifest, dir string) error {
	m.Artifacts = nil
	return filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if de.IsDir() || de.Type()&fs.ModeSymlink != 0 || rel == manifest.ManifestFile || rel == manifest.ManifestSig {
			return nil
		}
		sum, err := source.Hash(p)
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		m.Artifacts = append(m.Artifacts, manifest.Artifact{Path: rel, SHA256: sum, Size: st.Size(), Kind: kindOf(rel)})
		return nil
	})
}

func kindOf(rel string) string {
	switch {
	case strings.HasSuffix(rel, ".src.rpm"):
		return "srpm"
	case strings.HasSuffix(rel, ".rpm"):
		return "rpm"
	case strings.HasPrefix(rel, manifest.RepoDir+"/.meta/"):
		return "repodata"
	case strings.HasPrefix(rel, manifest.KernelsDir+"/"):
		return "kernel-config"
	case strings.HasPrefix(rel, manifest.ReportsDir+"/"):
		return "report"
	case strings.HasPrefix(rel, manifest.ProvDir+"/"):
		return "provenance"
	case strings.HasPrefix(rel, AdvisoriesDir+"/"):
		return "advisories"
	case strings.HasPrefix(rel, SBOMDir+"/"):
		return "sbom"
	case strings.HasPrefix(rel, ImagesDir+"/"):
		return "image"
	case rel == manifest.NotesJSON || rel == manifest.NotesMD || rel == manifest.IndexHTML:
		return "notes"
	case strings.HasPrefix(rel, manifest.RepoDir+"/"):
		return "repo-client"
	}
	return "other"
}

func signFile(k *pgp.Key, path, sigPath string, t time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sig, err := k.SignArmored(f, t)
	if err != nil {
		return err
	}
	return os.WriteFile(sigPath, sig, 0o644)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
