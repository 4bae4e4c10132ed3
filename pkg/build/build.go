// Package build turns a distribution tree into RPMs: rpmbuild in a sandbox,
// packages in dependency order and in parallel, every ELF checked for
// hardening, results in a content-addressed cache so that a package rebuilds
// only when its inputs change.
package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/sandbox"
	"github.com/keel-linux/keel/pkg/source"
)

// Options for one build run.
type Options struct {
	Distro  *distro.Distro
	Cache   string   // cache root (sources/, builds/, work/, logs/)
	Out     string   // artifact directory: rpms/, srpms/, logs/, reports/
	Jobs    int      // parallel package builds; 0 = from keel.yaml
	Only    []string // build these and their build dependencies; empty = all
	Rebuild bool     // ignore cached results
	Offline bool     // no network: lookaside and cache only
}

// Progress goes to logctx.FromContext(ctx): a plan record (kind package,
// total), then one step per package (start, then done, cached, failed or
// skipped), then done.

// Package is the outcome for one source package.
type Package struct {
	Name      string   `json:"name"`
	EVR       string   `json:"evr"`
	Type      string   `json:"type"`
	Key       string   `json:"key"`
	Cached    bool     `json:"cached"`
	Seconds   float64  `json:"seconds"`
	RPMs      []string `json:"rpms,omitempty"`
	SRPM      string   `json:"srpm,omitempty"`
	Log       string   `json:"log,omitempty"`
	Hardening string   `json:"hardening,omitempty"`
	Error     string   `json:"error,omitempty"`
	Skipped   bool     `json:"skipped,omitempty"`
}

// Result of a run. Err lists every failed package.
type Result struct {
	Packages []*Package `json:"packages"`
	RPMDir   string     `json:"rpm_dir"`
	Seconds  float64    `json:"seconds"`
}

// Failed is the list of packages that failed or were skipped because a
// build dependency failed.
func (r *Result) Failed() []*Package {
	var out []*Package
	for _, p := range r.Packages {
		if p.Error != "" {
			out = append(out, p)
		}
	}
	return out
}

// Builder holds what every package build of one run shares.
type Builder struct {
	opt       Options
	plan      *Plan
	fetch     *source.Fetcher
	toolchain string
	mu        sync.Mutex
	done      map[string]*Package
}

// Run builds the tree. It returns a Result even when packages failed, with
// an error naming them and their logs.
func Run(ctx context.Context, opt Options) (*Result, error) {
	start := time.Now()
	log := logctx.FromContext(ctx)
	d := opt.Distro
	if opt.Jobs <= 0 {
		opt.Jobs = d.Jobs()
	}
	for _, dir := range []string{opt.Cache, opt.Out} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	unlock, err := lockFile(filepath.Join(opt.Cache, "build.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	cleanStale(opt.Cache)

	plan, err := NewPlan(ctx, d)
	if err != nil {
		return nil, err
	}
	if err := plan.Select(opt.Only); err != nil {
		return nil, err
	}
	log.Info("plan", logctx.KindKey, "package", logctx.TotalKey, plan.size(), "layers", layersString(plan.Layers))
	tc, err := toolchainID(ctx)
	if err != nil {
		return nil, err
	}
	b := &Builder{
		opt: opt, plan: plan, toolchain: tc, done: map[string]*Package{},
		fetch: &source.Fetcher{
			Lookaside: d.Lookaside(), Mirrors: d.Config.Sources.Mirrors,
			Store: filepath.Join(opt.Cache, "sources"), Offline: opt.Offline,
		},
	}
	b.schedule(ctx)

	res := &Result{RPMDir: filepath.Join(opt.Out, "rpms")}
	var names []string
	for _, l := range plan.Layers {
		names = append(names, l...)
	}
	sort.Strings(names)
	for _, n := range names {
		res.Packages = append(res.Packages, b.done[n])
	}
	if err := b.publishOut(res); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	log.Info("build finished", logctx.SecondsKey, res.Seconds, "rpm_dir", res.RPMDir)
	if failed := res.Failed(); len(failed) > 0 {
		var lines []string
		for _, p := range failed {
			l := fmt.Sprintf("%s: %s", p.Name, p.Error)
			if p.Log != "" {
				l += " (log: " + p.Log + ")"
			}
			lines = append(lines, l)
		}
		return res, fmt.Errorf("%d of %d packages failed:\n  %s", len(failed), len(res.Packages), strings.Join(lines, "\n  "))
	}
	return res, ctx.Err()
}

func layersString(layers [][]string) string {
	var parts []string
	for _, l := range layers {
		parts = append(parts, strings.Join(l, " "))
	}
	return strings.Join(parts, " | ")
}

// schedule runs packages as soon as their build dependencies are done,
// at most Jobs at a time; a failure skips its dependents only.
func (b *Builder) schedule(ctx context.Context) {
	pending := map[string]bool{}
	for _, l := range b.plan.Layers {
		for _, n := range l {
			pending[n] = true
		}
	}
	type result struct {
		name string
		pkg  *Package
	}
	results := make(chan result)
	running := 0
	for len(pending) > 0 || running > 0 {
		// Start everything ready, in name order, up to Jobs.
		var ready []string
		for n := range pending {
			ok := true
			for _, d := range b.plan.Specs[n].deps {
				if pending[d] || b.done[d] == nil {
					ok = false
					break
				}
			}
			if ok {
				ready = append(ready, n)
			}
		}
		sort.Strings(ready)
		for _, n := range ready {
			if blocked := b.failedDep(n); blocked != "" {
				delete(pending, n)
				s := b.plan.Specs[n]
				p := &Package{Name: n, EVR: s.EVR(), Type: s.Type, Skipped: true, Error: "not built: build dependency " + blocked + " failed"}
				b.done[n] = p
				logctx.FromContext(ctx).Warn("skipped", logctx.StepKey, n, logctx.KindKey, "package", logctx.StateKey, logctx.Skipped, "error", p.Error)
				continue
			}
			if running >= b.opt.Jobs {
				break
			}
			if ctx.Err() != nil {
				delete(pending, n)
				b.done[n] = &Package{Name: n, Error: "interrupted"}
				continue
			}
			delete(pending, n)
			running++
			go func(n string) {
				results <- result{n, b.buildOne(ctx, n)}
			}(n)
		}
		if running == 0 {
			if len(pending) > 0 && ctx.Err() == nil {
				// Only skipped packages remained; loop again to mark them.
				continue
			}
			for n := range pending {
				b.done[n] = &Package{Name: n, Error: "interrupted"}
				delete(pending, n)
			}
			break
		}
		r := <-results
		running--
		b.mu.Lock()
		b.done[r.name] = r.pkg
		b.mu.Unlock()
	}
}

func (b *Builder) failedDep(n string) string {
	for _, d := range b.plan.closure(n) {
		if p := b.done[d]; p != nil && p.Error != "" {
			return d
		}
	}
	return ""
}

// meta.json in a cache entry.
type entryMeta struct {
	Name      string   `json:"name"`
	EVR       string   `json:"evr"`
	Type      string   `json:"type"`
	Key       string   `json:"key"`
	RPMs      []string `json:"rpms"`
	SRPM      string   `json:"srpm"`
	Seconds   float64  `json:"build_seconds"`
	BuiltAt   string   `json:"built_at"`
	SourceEpo int64    `json:"source_date_epoch"`
}

func (b *Builder) entryDir(key string) string {
	return filepath.Join(b.opt.Cache, "builds", key)
}

func (b *Builder) buildOne(ctx context.Context, name string) *Package {
	s := b.plan.Specs[name]
	p := &Package{Name: name, EVR: s.EVR(), Type: s.Type}
	var step *logctx.Step
	fail := func(err error) *Package {
		p.Error = err.Error()
		if step == nil { // before rpmbuild: the key or a source
			logctx.FromContext(ctx).Error("failed", logctx.StepKey, name, logctx.KindKey, "package", logctx.StateKey, logctx.Failed, "error", p.Error)
			return p
		}
		step.Fail(err, logctx.LogKey, p.Log)
		return p
	}
	depRPMs := b.depRPMs(name)
	key, err := b.key(s, depRPMs)
	if err != nil {
		return fail(err)
	}
	p.Key = key
	entry := b.entryDir(key)
	if !b.opt.Rebuild {
		if m, err := readMeta(entry); err == nil {
			p.Cached = true
			b.fill(p, entry, m)
			logctx.FromContext(ctx).Info("cached", logctx.StepKey, name, logctx.KindKey, "package", logctx.StateKey, logctx.Cached, "evr", p.EVR, "key", short(key))
			return p
		}
	}
	t0 := time.Now()
	logPath := filepath.Join(b.opt.Cache, "logs", name+"-"+short(key)+".log")
	p.Log = logPath
	step = logctx.StartStep(ctx, "package", name, "building", "evr", p.EVR, "key", short(key), logctx.LogKey, logPath)
	if err := b.rpmbuild(logctx.WithLogger(ctx, step.Logger()), s, key, depRPMs, logPath); err != nil {
		return fail(err)
	}
	m, err := readMeta(entry)
	if err != nil {
		return fail(err)
	}
	b.fill(p, entry, m)
	p.Log = logPath
	p.Seconds = time.Since(t0).Seconds()
	step.Done("built", "evr", p.EVR)
	return p
}

func (b *Builder) fill(p *Package, entry string, m *entryMeta) {
	for _, r := range m.RPMs {
		p.RPMs = append(p.RPMs, filepath.Join(entry, "rpms", r))
	}
	if m.SRPM != "" {
		p.SRPM = filepath.Join(entry, "srpms", m.SRPM)
	}
	p.Log = filepath.Join(entry, "build.log")
	p.Hardening = filepath.Join(entry, "hardening.json")
	if !p.Cached {
		p.Seconds = m.Seconds
	}
}

// depRPMs are the RPMs of name's build-dependency closure, sorted.
func (b *Builder) depRPMs(name string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, d := range b.plan.closure(name) {
		if p := b.done[d]; p != nil {
			out = append(out, p.RPMs...)
		}
	}
	sort.Strings(out)
	return out
}

func readMeta(entry string) (*entryMeta, error) {
	data, err := os.ReadFile(filepath.Join(entry, "meta.json"))
	if err != nil {
		return nil, err
	}
	var m entryMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: corrupt cache entry: %w", entry, err)
	}
	return &m, nil
}

func short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reproducibleMacros are defined for every package, whatever it
// build-requires: the same inputs give the same bytes.
var reproducibleMacros = []distro.Macro{
	{Name: "use_source_date_epoch_as_buildtime", Value: "1"},
	{Name: "clamp_mtime_to_source_date_epoch", Value: "1"},
	{Name: "source_date_epoch_from_changelog", Value: "0"},
	{Name: "_buildhost", Value: "keel-build.invalid"},
}

// rpmbuild builds one package in a sandbox and commits the cache entry
// atomically: everything goes to builds/.tmp-*, renamed to builds/<key>
// only once RPMs, log and hardening report are complete.
func (b *Builder) rpmbuild(ctx context.Context, s *Spec, key string, depRPMs []string, logPath string) (err error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	work := filepath.Join(b.opt.Cache, "work", s.Name+"-"+randomSuffix())
	defer os.RemoveAll(work)
	for _, d := range []string{"SOURCES", "SPECS", "BUILD", "RPMS", "SRPMS", "home", "deps", "rpmdb"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return err
		}
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	sde, err := s.sourceDateEpoch(b.opt.Distro.Config.SDE, time.Now())
	if err != nil {
		return err
	}
	if err := b.fetch.Stage(ctx, s.Name, s.Dir(), s.manifest, filepath.Join(work, "SOURCES"), time.Unix(sde, 0).UTC()); err != nil {
		return err
	}
	specData, err := os.ReadFile(s.Path)
	if err != nil {
		return err
	}
	specIn := filepath.Join(work, "SPECS", s.Name+".spec")
	if err := os.WriteFile(specIn, specData, 0o644); err != nil {
		return err
	}
	// Build dependencies are unpacked into deps/; their rpm macro files are
	// loaded, their helpers reachable through %{_keel_deps}.
	var loads []string
	for _, r := range depRPMs {
		if err := unpackRPM(ctx, r, filepath.Join(work, "deps")); err != nil {
			return fmt.Errorf("unpacking build dependency %s: %w", filepath.Base(r), err)
		}
	}
	macroFiles, _ := filepath.Glob(filepath.Join(work, "deps", "usr/lib/rpm/macros.d", "macros.*"))
	sort.Strings(macroFiles)
	for _, m := range macroFiles {
		loads = append(loads, "--load", "/build/deps/"+strings.TrimPrefix(m, filepath.Join(work, "deps")+"/"))
	}
	args := []string{"-ba", "--nodeps"}
	args = append(args, loads...)
	defs := append(append([]distro.Macro{
		{Name: "_topdir", Value: "/build"},
		{Name: "_dbpath", Value: "/build/rpmdb"},
		{Name: "_keel_deps", Value: "/build/deps"},
	}, reproducibleMacros...), b.opt.Distro.RPMMacros()...)
	for _, m := range defs {
		args = append(args, "--define", m.Name+" "+m.Value)
	}
	args = append(args, "/build/SPECS/"+s.Name+".spec")

	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if goBin, err := exec.LookPath("go"); err == nil {
		path = filepath.Dir(goBin) + ":" + path
	}
	spec := sandbox.Spec{
		Binds: map[string]string{work: "/build"},
		Env: map[string]string{
			"PATH": path, "HOME": "/build/home", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
			"SOURCE_DATE_EPOCH": fmt.Sprint(sde), "TMPDIR": "/tmp",
		},
		Dir:  "/build",
		None: b.opt.Distro.Config.Build.Sandbox == "none",
	}
	if spec.None {
		return fmt.Errorf("build.sandbox: none is not supported for rpmbuild yet (builds need the fixed /build path for reproducibility)")
	}
	cmd, err := sandbox.Command(ctx, spec, append([]string{"rpmbuild"}, args...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "# keel build %s %s key %s SOURCE_DATE_EPOCH=%d\n# rpmbuild %s\n", s.Name, s.EVR(), key, sde, strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = logf, logf
	if w := logctx.Lines(ctx, logctx.FromContext(ctx), "rpmbuild"); w != nil {
		cmd.Stdout = io.MultiWriter(logf, w)
		cmd.Stderr = cmd.Stdout
	}
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if data, rerr := os.ReadFile(logPath); rerr == nil {
			if d := diagnose(s.Name, string(data)); d != "" {
				return fmt.Errorf("rpmbuild failed (%v): %s; last lines:\n%s", err, d, tail(logPath, 12))
			}
		}
		return fmt.Errorf("rpmbuild failed (%v); last lines:\n%s", err, tail(logPath, 12))
	}
	secs := time.Since(t0).Seconds()

	// Stage the cache entry.
	tmp := filepath.Join(b.opt.Cache, "builds", ".tmp-"+key+"-"+randomSuffix())
	defer os.RemoveAll(tmp)
	for _, d := range []string{"rpms", "srpms"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return err
		}
	}
	m := &entryMeta{Name: s.Name, EVR: s.EVR(), Type: s.Type, Key: key, Seconds: secs, SourceEpo: sde, BuiltAt: time.Now().UTC().Format(time.RFC3339)}
	rpms, _ := filepath.Glob(filepath.Join(work, "RPMS", "*", "*.rpm"))
	sort.Strings(rpms)
	if len(rpms) == 0 {
		return fmt.Errorf("rpmbuild produced no binary RPM")
	}
	for _, r := range rpms {
		if err := os.Rename(r, filepath.Join(tmp, "rpms", filepath.Base(r))); err != nil {
			return err
		}
		m.RPMs = append(m.RPMs, filepath.Base(r))
	}
	if srpms, _ := filepath.Glob(filepath.Join(work, "SRPMS", "*.src.rpm")); len(srpms) == 1 {
		if err := os.Rename(srpms[0], filepath.Join(tmp, "srpms", filepath.Base(srpms[0]))); err != nil {
			return err
		}
		m.SRPM = filepath.Base(srpms[0])
	}
	report, herr := b.checkHardening(ctx, s, tmp, m.RPMs)
	if report != nil {
		if err := writeJSON(filepath.Join(tmp, "hardening.json"), report); err != nil {
			return err
		}
		// Keep a copy beside the log even when the build fails on it.
		_ = writeJSON(strings.TrimSuffix(logPath, ".log")+".hardening.json", report)
	}
	if herr != nil {
		return herr
	}
	logf.Sync()
	if err := atomicfile.Copy(logPath, filepath.Join(tmp, "build.log")); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "meta.json"), m); err != nil {
		return err
	}
	if err := atomicfile.SyncTree(tmp); err != nil {
		return err
	}
	final := b.entryDir(key)
	_ = os.RemoveAll(final) // only reached with --rebuild
	return os.Rename(tmp, final)
}

// unpackRPM extracts an RPM payload (a trusted, just-built package of this
// tree) into dir.
func unpackRPM(ctx context.Context, rpmPath, dir string) error {
	r2c := exec.CommandContext(ctx, "rpm2cpio", rpmPath)
	cp := exec.CommandContext(ctx, "cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cp.Dir = dir
	pipe, err := r2c.StdoutPipe()
	if err != nil {
		return err
	}
	cp.Stdin = pipe
	var errb strings.Builder
	cp.Stderr = &errb
	r2c.Stderr = &errb
	if err := r2c.Start(); err != nil {
		return err
	}
	if err := cp.Run(); err != nil {
		_ = r2c.Wait()
		return fmt.Errorf("cpio: %v %s", err, errb.String())
	}
	if err := r2c.Wait(); err != nil {
		return fmt.Errorf("rpm2cpio: %v %s", err, errb.String())
	}
	return nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lockFile takes an exclusive flock; a second keel build on the same cache
// waits instead of racing.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// cleanStale removes what a killed build left: half-staged entries and
// work directories. Committed entries are complete by construction.
func cleanStale(cache string) {
	for _, pat := range []string{filepath.Join(cache, "builds", ".tmp-*"), filepath.Join(cache, "work", "*")} {
		old, _ := filepath.Glob(pat)
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
}

// publishOut mirrors the run's RPMs into out/: rpms/<arch>/, srpms/, logs/
// and reports/hardening/, replacing the previous view in one rename each.
func (b *Builder) publishOut(res *Result) error {
	out := b.opt.Out
	stage := filepath.Join(out, ".stage-"+randomSuffix())
	defer os.RemoveAll(stage)
	for _, p := range res.Packages {
		if p.Error != "" {
			if p.Log != "" {
				_ = os.MkdirAll(filepath.Join(stage, "logs"), 0o755)
				_ = linkOrCopy(p.Log, filepath.Join(stage, "logs", p.Name+".log"))
			}
			continue
		}
		for _, r := range p.RPMs {
			arch := rpmArch(r)
			if err := os.MkdirAll(filepath.Join(stage, "rpms", arch), 0o755); err != nil {
				return err
			}
			if err := linkOrCopy(r, filepath.Join(stage, "rpms", arch, filepath.Base(r))); err != nil {
				return err
			}
		}
		if p.SRPM != "" {
			_ = os.MkdirAll(filepath.Join(stage, "srpms"), 0o755)
			if err := linkOrCopy(p.SRPM, filepath.Join(stage, "srpms", filepath.Base(p.SRPM))); err != nil {
				return err
			}
		}
		_ = os.MkdirAll(filepath.Join(stage, "logs"), 0o755)
		_ = linkOrCopy(p.Log, filepath.Join(stage, "logs", p.Name+".log"))
		_ = os.MkdirAll(filepath.Join(stage, "reports", "hardening"), 0o755)
		_ = linkOrCopy(p.Hardening, filepath.Join(stage, "reports", "hardening", p.Name+".json"))
	}
	if err := writeJSON(filepath.Join(stage, "build.json"), res); err != nil {
		return err
	}
	for _, d := range []string{"rpms", "srpms", "logs", "reports"} {
		_ = os.MkdirAll(filepath.Join(stage, d), 0o755)
		if err := replaceDir(filepath.Join(stage, d), filepath.Join(out, d)); err != nil {
			return err
		}
	}
	return os.Rename(filepath.Join(stage, "build.json"), filepath.Join(out, "build.json"))
}

func replaceDir(src, dst string) error {
	old := dst + ".old-" + randomSuffix()
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return atomicfile.Copy(src, dst)
}

// rpmArch takes the arch from name-version-release.arch.rpm.
func rpmArch(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".rpm")
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		return base[i+1:]
	}
	return "unknown"
}
