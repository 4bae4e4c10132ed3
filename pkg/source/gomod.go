package source

// Go module origins. The CI machine reaches the Go module proxy but no
// forge, so a Go program's upstream source is its module zip as the proxy
// serves it, and its dependencies a vendor tarball resolved through the
// proxy once and pinned:
//
//	"Origins": {
//	  "containerd-2.4.2.zip":            "gomod:github.com/containerd/containerd/v2@v2.4.2",
//	  "containerd-2.4.2-vendor.tar.gz":  "govendor:containerd-2.4.2.zip"
//	},
//	"GoSums": {
//	  "containerd-2.4.2.zip":           ["github.com/containerd/containerd/v2 v2.4.2 h1:..."],
//	  "containerd-2.4.2-vendor.tar.gz": ["github.com/klauspost/compress v1.18.0 h1:...", ...]
//	}
//
// The zip is fetched by the go command (GOPROXY from the environment, the
// checksum database consulted through it; offline GOPROXY=off, the local
// module cache only) and must match both its sha256 and its pinned h1: line.
// The vendor tarball is `go mod vendor` of that zip, packed reproducibly
// (sorted, root-owned, mtime 0, no gzip header time): recreating it on a
// fresh machine gives the pinned bytes, and its module list (go.sum lines of
// every module it holds) is pinned beside it for SBOMs and review.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// IsGoOrigin reports whether an origin is a Go module zip or vendor tarball.
func IsGoOrigin(o string) bool {
	kind, _, _ := parseOrigin(o)
	return kind == "gomod" || kind == "govendor"
}

// GoModule is one module a Go source holds: a line of go.sum.
type GoModule struct {
	Path, Version, Sum string
}

func (g GoModule) String() string { return g.Path + " " + g.Version + " " + g.Sum }

// ParseGoSumLine reads "path version h1:hash".
func ParseGoSumLine(line string) (GoModule, error) {
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "h1:") || strings.HasSuffix(f[1], "/go.mod") {
		return GoModule{}, fmt.Errorf("%q: want a go.sum line \"MODULE VERSION h1:HASH\"", line)
	}
	if err := module.Check(f[0], f[1]); err != nil {
		return GoModule{}, fmt.Errorf("%q: %v", line, err)
	}
	return GoModule{f[0], f[1], f[2]}, nil
}

// GoModules returns the modules pinned for file (nil if none).
func (m *Manifest) GoModules(file string) []GoModule {
	var out []GoModule
	for _, l := range m.GoSums[file] {
		if g, err := ParseGoSumLine(l); err == nil {
			out = append(out, g)
		}
	}
	return out
}

// parseGoModOrigin splits "MODULE@VERSION".
func parseGoModOrigin(rest string) (module.Version, error) {
	p, v, ok := strings.Cut(rest, "@")
	if !ok {
		return module.Version{}, fmt.Errorf("gomod:%s: want gomod:MODULE@VERSION", rest)
	}
	if err := module.Check(p, v); err != nil {
		return module.Version{}, fmt.Errorf("gomod:%s: %v", rest, err)
	}
	return module.Version{Path: p, Version: v}, nil
}

// checkGoPins validates the Go-specific parts of a manifest.
func (m *Manifest) checkGoPins() error {
	for f, lines := range m.GoSums {
		kind, _, _ := parseOrigin(m.Origins[f])
		if kind != "gomod" && kind != "govendor" {
			return fmt.Errorf("GoSums[%q]: only gomod: and govendor: origins carry go.sum lines", f)
		}
		for _, l := range lines {
			if _, err := ParseGoSumLine(l); err != nil {
				return fmt.Errorf("GoSums[%q]: %w", f, err)
			}
		}
	}
	for f, o := range m.Origins {
		kind, rest, _ := parseOrigin(o)
		switch kind {
		case "gomod":
			if len(m.GoSums[f]) != 1 {
				return fmt.Errorf("GoSums[%q]: want the module's go.sum line; run `keel sources vendor`", f)
			}
		case "govendor":
			if k, _, _ := parseOrigin(m.Origins[rest]); k != "gomod" && k != "local" {
				return fmt.Errorf("Origins[%q] = %q: %s must have a gomod: or local: origin", f, o, rest)
			}
		}
	}
	return nil
}

// GoError is a Go module that could not be fetched, resolved or verified.
type GoError struct {
	Package, File, Module, Problem, Fix string
}

func (e *GoError) Error() string {
	return fmt.Sprintf("%s: %s (Go module %s): %s; %s", e.Package, e.File, e.Module, e.Problem, e.Fix)
}

// goEnv is the environment of the go commands keel runs: the caller's, with
// the module settings fixed; offline, the module cache is the only source.
func (f *Fetcher) goEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOWORK", "GOTOOLCHAIN", "GO111MODULE", "GOPROXY":
			continue
		}
		env = append(env, kv)
	}
	proxy := os.Getenv("GOPROXY")
	if f.Offline {
		proxy = "off"
	}
	if proxy != "" {
		env = append(env, "GOPROXY="+proxy)
	}
	return append(env, "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on")
}

func (f *Fetcher) goProxy() string {
	if f.Offline {
		return "off (--offline)"
	}
	if p := os.Getenv("GOPROXY"); p != "" {
		return p
	}
	return "the go command's default"
}

func (f *Fetcher) runGo(ctx context.Context, dir string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("the go command is needed for Go module sources (install Go and put it on PATH)")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, f.goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return out, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// goDownload fetches a module zip through the go command (which checks it
// against go.sum's checksum database) and returns its path in the module
// cache and its h1: sum.
func (f *Fetcher) goDownload(ctx context.Context, pkg, file string, mv module.Version) (zip, sum string, err error) {
	dir, err := os.MkdirTemp("", "keel-gomod-*")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	out, runErr := f.runGo(ctx, dir, "mod", "download", "-json", mv.String())
	var res struct{ Zip, Sum, Error string }
	if err := json.Unmarshal(out, &res); err != nil || res.Error != "" || runErr != nil || res.Zip == "" {
		problem := res.Error
		if problem == "" && runErr != nil {
			problem = runErr.Error()
		}
		return "", "", &GoError{Package: pkg, File: file, Module: mv.String(),
			Problem: "the module proxy (GOPROXY=" + f.goProxy() + ") cannot serve it: " + problem,
			Fix:     fmt.Sprintf("check the module path and version (`go list -m -versions %s`) and GOPROXY, or put %s in a lookaside", mv.Path, file)}
	}
	return res.Zip, res.Sum, nil
}

// resolveGoMod makes a gomod: origin's zip available in the store.
func (f *Fetcher) resolveGoMod(ctx context.Context, pkg string, m *Manifest, file, rest, want string) error {
	mv, err := parseGoModOrigin(rest)
	if err != nil {
		return err
	}
	zip, sum, err := f.goDownload(ctx, pkg, file, mv)
	if err != nil {
		return err
	}
	if got := (GoModule{mv.Path, mv.Version, sum}).String(); !slices.Equal(m.GoSums[file], []string{got}) {
		return &GoError{Package: pkg, File: file, Module: mv.String(),
			Problem: fmt.Sprintf("the proxy's go.sum line is %q, pinned %q in %s", got, strings.Join(m.GoSums[file], " "), m.Path()),
			Fix:     "if the module really changed upstream (it must not: module versions are immutable), review it and run `keel sources vendor " + pkg + "`"}
	}
	return f.ingestFile(zip, pkg, m, file, want)
}

// resolveGoVendor recreates a govendor: tarball and stores it if it has the
// pinned bytes and module list.
func (f *Fetcher) resolveGoVendor(ctx context.Context, pkg string, m *Manifest, file, zipFile, want string) error {
	tmp, mods, err := f.makeVendor(ctx, pkg, m, file, zipFile)
	if tmp != "" {
		defer os.RemoveAll(filepath.Dir(tmp))
	}
	if err != nil {
		return err
	}
	if d := diffModules(m.GoSums[file], mods); d != "" {
		return &GoError{Package: pkg, File: file, Module: vendoredFrom(m, zipFile),
			Problem: "the dependencies resolved now differ from the pinned module list in " + m.Path() + ": " + d,
			Fix:     "review the change and run `keel sources vendor " + pkg + "` to re-pin"}
	}
	err = f.ingestFile(tmp, pkg, m, file, want)
	var me *MismatchError
	if errors.As(err, &me) {
		me.From = "go mod vendor of " + vendoredFrom(m, zipFile) + " with the host go command (GOPROXY=" + f.goProxy() + ")"
	}
	return err
}

// vendoredFrom names what a govendor: tarball vendors: MODULE@VERSION of a
// gomod: zip, or the module of a local: source directory.
func vendoredFrom(m *Manifest, srcFile string) string {
	kind, rest, _ := parseOrigin(m.Origins[srcFile])
	if kind == "local" {
		return "local:" + rest
	}
	return rest
}

// makeVendor resolves the dependencies of the module in srcFile — a pinned
// module zip, or a local: directory beside the spec holding go.mod and
// go.sum — with `go mod vendor` and packs vendor/ reproducibly into a
// temporary file (its directory is the caller's to remove). It returns the
// go.sum lines of the modules the tarball holds, sorted.
func (f *Fetcher) makeVendor(ctx context.Context, pkg string, m *Manifest, file, srcFile string) (string, []string, error) {
	kind, rest, _ := parseOrigin(m.Origins[srcFile])
	if kind != "gomod" && kind != "local" {
		return "", nil, fmt.Errorf("%s: %s: origin govendor:%s needs a gomod: or local: origin for %s", m.Path(), file, srcFile, srcFile)
	}
	label := vendoredFrom(m, srcFile)
	if err := os.MkdirAll(f.Store, 0o755); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(f.Store, ".vendor-*")
	if err != nil {
		return "", nil, err
	}
	tmp := filepath.Join(dir, file)
	src := filepath.Join(dir, "src")
	if kind == "local" {
		local := filepath.Join(filepath.Dir(m.Path()), rest)
		if _, err := os.Stat(filepath.Join(local, "go.mod")); err != nil {
			return tmp, nil, &GoError{Package: pkg, File: file, Module: label, Problem: "no go.mod in " + local,
				Fix: "run `go mod init` and `go mod tidy` there, or drop the govendor: origin"}
		}
		if err := copyModuleTree(local, src); err != nil {
			return tmp, nil, err
		}
	} else {
		mv, err := parseGoModOrigin(rest)
		if err != nil {
			return tmp, nil, err
		}
		zp, err := f.Resolve(ctx, pkg, m, srcFile)
		if err != nil {
			return tmp, nil, err
		}
		if err := modzip.Unzip(src, mv, zp); err != nil {
			return tmp, nil, &GoError{Package: pkg, File: srcFile, Module: label, Problem: "not a valid module zip: " + err.Error(),
				Fix: "check the pin in " + m.Path()}
		}
	}
	if _, err := f.runGo(ctx, src, "mod", "vendor"); err != nil {
		return tmp, nil, &GoError{Package: pkg, File: file, Module: label,
			Problem: "resolving its dependencies through the module proxy (GOPROXY=" + f.goProxy() + ") failed: " + err.Error(),
			Fix:     "a checksum mismatch means the proxy served other bytes than the module's go.sum records (do not re-pin blindly); otherwise check GOPROXY, or drop --offline once to fill the Go module cache"}
	}
	mods, err := vendoredModules(src)
	if err != nil {
		return tmp, nil, &GoError{Package: pkg, File: file, Module: label, Problem: err.Error(), Fix: "local replace directives cannot be vendored"}
	}
	if _, err := os.Stat(filepath.Join(src, "vendor")); err != nil {
		return tmp, nil, &GoError{Package: pkg, File: file, Module: label, Problem: "the module has no dependencies to vendor", Fix: "drop the govendor: origin"}
	}
	if err := PackLocal(filepath.Join(src, "vendor"), "vendor", tmp, time.Unix(0, 0).UTC()); err != nil {
		return tmp, nil, err
	}
	return tmp, mods, nil
}

// copyModuleTree copies the regular files of a local module into dst,
// leaving out a vendor/ directory a developer may have made there: the
// tarball must come from go.mod and go.sum alone.
func copyModuleTree(from, dst string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			if rel == "vendor" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return atomicfile.Copy(p, filepath.Join(dst, rel))
	})
}

// vendoredModules reads vendor/modules.txt and go.sum of a module tree: the
// go.sum line of every module that contributes a package to vendor/.
func vendoredModules(dir string) ([]string, error) {
	sums := map[string]string{}
	if data, err := os.ReadFile(filepath.Join(dir, "go.sum")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				sums[f[0]+" "+f[1]] = f[2]
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "vendor", "modules.txt"))
	if err != nil {
		return nil, nil // nothing vendored
	}
	var out []string
	var cur string // "path version" of the module whose packages follow
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## "):
		case strings.HasPrefix(l, "# "):
			f := strings.Fields(strings.TrimPrefix(l, "# "))
			cur = ""
			if i := slices.Index(f, "=>"); i >= 0 {
				f = f[i+1:] // the replacement is what vendor/ holds
			}
			if len(f) == 1 {
				return nil, fmt.Errorf("vendor/modules.txt: %q: a local replacement", l)
			}
			if len(f) >= 2 {
				cur = f[0] + " " + f[1]
			}
		case l != "" && cur != "":
			sum, ok := sums[cur]
			if !ok {
				return nil, fmt.Errorf("go.sum has no line for %s", cur)
			}
			out = append(out, cur+" "+sum)
			cur = "" // one line per module
		}
	}
	slices.Sort(out)
	return slices.Compact(out), sc.Err()
}

// diffModules describes how two module lists differ ("" when equal).
func diffModules(pinned, got []string) string {
	var d []string
	for _, l := range got {
		if !slices.Contains(pinned, l) {
			d = append(d, "+"+l)
		}
	}
	for _, l := range pinned {
		if !slices.Contains(got, l) {
			d = append(d, "-"+l)
		}
	}
	if len(d) > 6 {
		d = append(d[:6], fmt.Sprintf("and %d more", len(d)-6))
	}
	return strings.Join(d, ", ")
}

// VendorSources returns the names keel uses for a Go module's zip and
// vendor tarball: containerd-2.4.2.zip, containerd-2.4.2-vendor.tar.gz.
func VendorSources(mv module.Version) (zip, vendor string) {
	base := mv.Path[strings.LastIndex(mv.Path, "/")+1:]
	if prefix, _, ok := module.SplitPathVersion(mv.Path); ok && strings.HasPrefix(base, "v") && prefix != mv.Path {
		base = prefix[strings.LastIndex(prefix, "/")+1:]
	}
	v := strings.TrimPrefix(mv.Version, "v")
	return base + "-" + v + ".zip", base + "-" + v + "-vendor.tar.gz"
}

// SetGoModule points a manifest at MODULE@VERSION: the zip and vendor
// origins replace any earlier Go module origins (an upgrade). Pins are
// filled by PinGo.
func (m *Manifest) SetGoModule(modver string) error {
	mv, err := parseGoModOrigin(modver)
	if err != nil {
		return err
	}
	for f, o := range m.Origins {
		if k, _, _ := parseOrigin(o); k == "gomod" || k == "govendor" {
			delete(m.Origins, f)
			delete(m.Signatures, f)
			delete(m.GoSums, f)
		}
	}
	zip, vendor := VendorSources(mv)
	m.Origins[zip] = "gomod:" + mv.String()
	m.Origins[vendor] = "govendor:" + zip
	return nil
}

// SetGoLocal adds a govendor: origin for the package's local: source, whose
// directory holds go.mod and go.sum: NAME-VERSION-vendor.tar.gz beside
// NAME-VERSION.tar.gz. Pins are filled by PinGo.
func (m *Manifest) SetGoLocal() error {
	var found []string
	for _, file := range m.Files() {
		kind, rest, _ := parseOrigin(m.Origins[file])
		if kind != "local" {
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(m.Path()), rest, "go.mod")); err == nil {
			found = append(found, file)
		}
	}
	if len(found) != 1 {
		return fmt.Errorf("%s: want exactly one local: origin whose directory holds a go.mod, found %d %v", m.Path(), len(found), found)
	}
	vendor := strings.TrimSuffix(strings.TrimSuffix(found[0], ".tar.gz"), ".tgz") + "-vendor.tar.gz"
	if m.Origins[vendor] != "govendor:"+found[0] {
		delete(m.Signatures, vendor)
		delete(m.GoSums, vendor)
	}
	m.Origins[vendor] = "govendor:" + found[0]
	return nil
}

// PinGo re-reads a package's Go module origins — the zip from the proxy,
// the vendor tarball by resolving it again — and rewrites sha256 and go.sum
// pins that changed. With dryRun nothing is written.
func (f *Fetcher) PinGo(ctx context.Context, pkg string, m *Manifest, dryRun bool) ([]PinChange, error) {
	var changes []PinChange
	if m.GoSums == nil {
		m.GoSums = map[string][]string{}
	}
	note := func(file, sum, from string, lines []string) {
		if m.Signatures[file] != sum || !slices.Equal(m.GoSums[file], lines) {
			changes = append(changes, PinChange{pkg, file, m.Signatures[file], sum, from})
			m.Signatures[file], m.GoSums[file] = sum, lines
		}
	}
	for _, want := range []string{"gomod", "govendor"} {
		for _, file := range m.Files() {
			kind, rest, _ := parseOrigin(m.Origins[file])
			if kind != want {
				continue
			}
			if kind == "gomod" {
				mv, err := parseGoModOrigin(rest)
				if err != nil {
					return changes, fmt.Errorf("%s: Origins[%q]: %w", m.Path(), file, err)
				}
				zip, sum, err := f.goDownload(ctx, pkg, file, mv)
				if err != nil {
					return changes, err
				}
				h, err := Hash(zip)
				if err != nil {
					return changes, err
				}
				note(file, h, "the Go module proxy ("+mv.String()+")", []string{GoModule{mv.Path, mv.Version, sum}.String()})
				continue
			}
			tmp, mods, err := f.makeVendor(ctx, pkg, m, file, rest)
			if tmp != "" {
				defer os.RemoveAll(filepath.Dir(tmp))
			}
			if err != nil {
				return changes, err
			}
			h, err := Hash(tmp)
			if err != nil {
				return changes, err
			}
			note(file, h, fmt.Sprintf("go mod vendor of %s (%d modules)", rest, len(mods)), mods)
			if err := f.ingestFile(tmp, pkg, m, file, h); err != nil {
				return changes, err
			}
		}
	}
	if len(changes) > 0 && !dryRun {
		return changes, m.Save()
	}
	return changes, nil
}
