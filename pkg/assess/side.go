package assess

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/pkg/cpio"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/kconfig"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/srctree"
)

// Side kinds.
const (
	KindRelease = "release"
	KindImage   = "image"
	KindSource  = "source-tree"
)

// DefinitionFile is the copy of an image's definition a release keeps
// beside its manifest (images/<name>/definition.yaml): what services and
// sysctl values it was composed with.
const DefinitionFile = "definition.yaml"

// side is one end of an upgrade: its packages (headers read), kernels,
// image definitions and release line.
type side struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Version string `json:"version,omitempty"`
	Line    string `json:"line,omitempty"`
	Image   string `json:"image,omitempty"`

	pkgs    map[string]*pkgInfo // by name.arch
	kernels map[string]kernelInfo
	defs    map[string]imageDef // image name -> its services and sysctl
	tree    *srctree.Tree
	dir     string // release directory (kernels/ configs), when there is one
	man     *manifest.Manifest
}

type pkgInfo struct {
	Name, Arch, EVR, Source string
	file                    string
	hdr                     *rpm.Header
}

type kernelInfo struct {
	Package, EVR, UnameR string
	Policy               map[string]string
	Config               kconfig.Config
}

// imageDef is what an upgrade reads of an image definition. Read leniently:
// the definition was validated when the image was composed, and an older
// keel's keys must not make a newer one refuse the comparison.
type imageDef struct {
	Services []string          `yaml:"services"`
	Sysctl   map[string]string `yaml:"sysctl"`
}

// openSide resolves a path: a release directory (manifest.json with a
// repo/), an image manifest (a manifest.json of `keel image build`, or the
// directory holding one), or a source tree.
func openSide(path string, repos []string) (*side, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want a release directory, an image manifest.json or a source tree)", path, err)
	}
	mf := path
	if st.IsDir() {
		mf = filepath.Join(path, manifest.ManifestFile)
		if _, err := os.Stat(mf); err != nil {
			if srctree.IsTree(path) {
				return &side{Path: path, Kind: KindSource}, nil
			}
			return nil, fmt.Errorf("%s: no %s and no SPECS/*/*.spec: not a release, an image or a source tree", path, manifest.ManifestFile)
		}
	}
	data, err := os.ReadFile(mf)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Image   string `json:"image"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", mf, err)
	}
	if probe.Image != "" {
		return openImage(mf, data, repos)
	}
	if probe.Version == "" {
		return nil, fmt.Errorf("%s: neither a release manifest (version) nor an image manifest (image)", mf)
	}
	return openRelease(filepath.Dir(mf))
}

func openRelease(dir string) (*side, error) {
	m, err := manifest.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	return releaseSide(dir, m)
}

// releaseSide is a release from its manifest (in memory during a cut, when
// manifest.json is not written yet) and its directory.
func releaseSide(dir string, m *manifest.Manifest) (*side, error) {
	s := &side{Path: dir, Kind: KindRelease, Version: m.Version, dir: dir, man: m, pkgs: map[string]*pkgInfo{}, defs: map[string]imageDef{}}
	for _, p := range m.Packages {
		s.pkgs[p.Name+"."+p.Arch] = &pkgInfo{Name: p.Name, Arch: p.Arch, EVR: p.EVR(), Source: p.Source, file: filepath.Join(dir, p.File)}
	}
	for _, im := range m.Images {
		def, err := readDef(filepath.Join(dir, filepath.Dir(im.File), DefinitionFile))
		if err == nil {
			s.defs[im.Name] = def
		}
	}
	return s, s.readHeaders()
}

// openImage reads an image manifest; its packages are found by file name in
// the release it belongs to (<release>/images/<name>/manifest.json) or in
// repos, and checked against the manifest's sha256.
func openImage(mf string, data []byte, repos []string) (*side, error) {
	var m image.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", mf, err)
	}
	s := &side{Path: mf, Kind: KindImage, Image: m.Image, pkgs: map[string]*pkgInfo{}, defs: map[string]imageDef{}}
	imgDir := filepath.Dir(mf)
	relDir := filepath.Dir(filepath.Dir(imgDir))
	if rm, err := manifest.ReadManifest(relDir); err == nil {
		s.Version, s.dir, s.man = rm.Version, relDir, rm
		repos = append([]string{filepath.Join(relDir, manifest.RepoDir)}, repos...)
	}
	if def, err := readDef(filepath.Join(imgDir, DefinitionFile)); err == nil {
		s.defs[m.Image] = def
	}
	for _, p := range m.Packages {
		bp := manifest.BinaryPackage{Name: p.Name, Epoch: p.Epoch, Version: p.Version, Release: p.Release, Arch: p.Arch}
		file := findRPM(repos, p.Name+"-"+p.Version+"-"+p.Release+"."+p.Arch+".rpm", p.SHA256)
		if file == "" {
			return nil, fmt.Errorf("%s: package %s-%s.%s (sha256 %s) is in no repository searched (%s); pass --repo DIR",
				mf, p.Name, bp.EVR(), p.Arch, short(p.SHA256), strings.Join(repos, ", "))
		}
		s.pkgs[p.Name+"."+p.Arch] = &pkgInfo{Name: p.Name, Arch: p.Arch, EVR: bp.EVR(), Source: p.Source, file: file}
	}
	return s, s.readHeaders()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// findRPM looks for name under each repo (top level or up to two
// directories down: Packages/a/, x86_64/) with the given sha256.
func findRPM(repos []string, name, sum string) string {
	for _, r := range repos {
		cands := []string{filepath.Join(r, name)}
		one, _ := filepath.Glob(filepath.Join(r, "*", name))
		two, _ := filepath.Glob(filepath.Join(r, "*", "*", name))
		for _, c := range append(append(cands, one...), two...) {
			if sum == "" || fileSHA256(c) == sum {
				if _, err := os.Stat(c); err == nil {
					return c
				}
			}
		}
	}
	return ""
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readDef(p string) (imageDef, error) {
	var d imageDef
	data, err := os.ReadFile(p)
	if err != nil {
		return d, err
	}
	return d, yaml.Unmarshal(data, &d)
}

func (s *side) readHeaders() error {
	for _, p := range s.pkgs {
		pk, err := rpm.Open(p.file)
		if err != nil {
			return err
		}
		p.hdr = pk.Header
	}
	return nil
}

// names lists the side's package keys, sorted.
func (s *side) names() []string {
	out := make([]string, 0, len(s.pkgs))
	for k := range s.pkgs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maxPayloadFile bounds a file read out of a payload (sysctl.d files,
// kernel configs: a few hundred KB at most).
const maxPayloadFile = 8 << 20

// payloadFiles reads the regular files of p whose path want selects (at
// most maxPayloadFile bytes each); the header is consulted first so that
// packages holding none are never decompressed.
func payloadFiles(p *pkgInfo, want func(string) bool) (map[string][]byte, error) {
	paths, err := p.hdr.FilePaths()
	if err != nil {
		return nil, err
	}
	any := false
	for _, f := range paths {
		if want(f) {
			any = true
			break
		}
	}
	if !any {
		return nil, nil
	}
	pk, err := rpm.Open(p.file)
	if err != nil {
		return nil, err
	}
	pl, err := pk.Payload()
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	out := map[string][]byte{}
	cr := cpio.NewReader(bufio.NewReaderSize(pl, 64<<10))
	for {
		e, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: payload: %w", p.file, err)
		}
		name := "/" + strings.TrimPrefix(strings.TrimPrefix(e.Name, "."), "/")
		if e.Mode&0o170000 != 0o100000 || !want(name) {
			continue
		}
		if e.Size > maxPayloadFile {
			return nil, fmt.Errorf("%s: %s is %d bytes, over the %d MiB read for an assessment", p.file, name, e.Size, maxPayloadFile>>20)
		}
		data, err := io.ReadAll(io.LimitReader(cr, int64(e.Size)))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", p.file, name, err)
		}
		out[name] = data
	}
}

// isKernelConfig matches /usr/lib/modules/<uname -r>/config.
func isKernelConfig(p string) bool {
	return strings.HasPrefix(p, "/usr/lib/modules/") && strings.HasSuffix(p, "/config") && strings.Count(p, "/") == 5
}

// readKernels finds the side's kernels: a release's from its kernels/
// configs and policy verdicts, an image's from its kernel packages.
func (s *side) readKernels() error {
	s.kernels = map[string]kernelInfo{}
	if s.man != nil {
		for _, k := range s.man.Kernels {
			if s.Kind == KindImage && !s.has(k.Package) {
				continue
			}
			c, err := readConfigFile(filepath.Join(s.dir, k.Config))
			if err != nil {
				return err
			}
			s.kernels[k.Package] = kernelInfo{Package: k.Package, EVR: k.EVR, UnameR: k.Release, Policy: k.Policy, Config: c}
		}
		return nil
	}
	for _, key := range s.names() {
		p := s.pkgs[key]
		files, err := payloadFiles(p, isKernelConfig)
		if err != nil {
			return err
		}
		for path, data := range files {
			c, err := kconfig.Parse(strings.NewReader(string(data)), p.Name+":"+path)
			if err != nil {
				return err
			}
			s.kernels[p.Name] = kernelInfo{Package: p.Name, EVR: p.EVR, UnameR: strings.Split(path, "/")[4], Config: c}
		}
	}
	return nil
}

func (s *side) has(name string) bool {
	for _, p := range s.pkgs {
		if p.Name == name {
			return true
		}
	}
	return false
}

func readConfigFile(p string) (kconfig.Config, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return kconfig.Parse(f, p)
}

// isSysctlFile matches the sysctl.d directories systemd-sysctl and
// keel-init read.
func isSysctlFile(p string) bool {
	for _, d := range []string{"/usr/lib/sysctl.d/", "/etc/sysctl.d/", "/run/sysctl.d/", "/lib/sysctl.d/"} {
		if strings.HasPrefix(p, d) && strings.HasSuffix(p, ".conf") && !strings.Contains(p[len(d):], "/") {
			return true
		}
	}
	return p == "/etc/sysctl.conf"
}

// sysctlSetting is one key's value and the file that sets it.
type sysctlSetting struct{ Value, File string }

// sysctl is the side's sysctl defaults: the sysctl.d files its packages
// ship, read in systemd-sysctl's order (by file name; /etc over /run over
// /usr/lib for the same name; /etc/sysctl.conf last), then each image
// definition's sysctl: (applied by keel-init after the files).
func (s *side) sysctl() (map[string]sysctlSetting, error) {
	files := map[string][]byte{}
	for _, key := range s.names() {
		fs, err := payloadFiles(s.pkgs[key], isSysctlFile)
		if err != nil {
			return nil, err
		}
		for p, d := range fs {
			files[p] = d
		}
	}
	byName := map[string]string{} // base name -> winning path
	rank := func(p string) int {
		switch {
		case strings.HasPrefix(p, "/etc/"):
			return 3
		case strings.HasPrefix(p, "/run/"):
			return 2
		}
		return 1
	}
	for p := range files {
		if p == "/etc/sysctl.conf" {
			continue
		}
		b := filepath.Base(p)
		if cur, ok := byName[b]; !ok || rank(p) > rank(cur) {
			byName[b] = p
		}
	}
	var order []string
	for _, b := range sortedKeys(byName) {
		order = append(order, byName[b])
	}
	if _, ok := files["/etc/sysctl.conf"]; ok {
		order = append(order, "/etc/sysctl.conf")
	}
	out := map[string]sysctlSetting{}
	for _, p := range order {
		for _, line := range strings.Split(string(files[p]), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
			out[k] = sysctlSetting{Value: strings.TrimSpace(v), File: p}
		}
	}
	for _, name := range sortedKeys(s.defs) {
		for k, v := range s.defs[name].Sysctl {
			out[k] = sysctlSetting{Value: v, File: "images/" + name + " sysctl:"}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
