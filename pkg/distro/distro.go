// Package distro loads a distribution tree: keel.yaml and SPECS/<name>/.
// It is the vocabulary every pipeline shares about "the distribution being
// built"; it knows nothing of how packages are built or shipped.
package distro

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/strictyaml"
)

// ConfigFile is the name of the distribution's configuration at the tree's top.
const ConfigFile = "keel.yaml"

// Config is keel.yaml. Field names are the YAML keys; the JSON Schema in
// docs/schema/keel.schema.json mirrors this struct.
type Config struct {
	Name       string            `yaml:"name" json:"name"`
	PrettyName string            `yaml:"pretty_name" json:"pretty_name"`
	Version    string            `yaml:"version" json:"version"`
	DistTag    string            `yaml:"dist_tag" json:"dist_tag"`
	Arch       string            `yaml:"arch" json:"arch"`
	Vendor     string            `yaml:"vendor" json:"vendor"`
	HomeURL    string            `yaml:"home_url" json:"home_url,omitempty"`
	BugURL     string            `yaml:"bug_url" json:"bug_url,omitempty"`
	SDE        SourceDateEpoch   `yaml:"source_date_epoch" json:"source_date_epoch"`
	Macros     map[string]string `yaml:"macros" json:"macros,omitempty"`
	Sources    Sources           `yaml:"sources" json:"sources"`
	Build      Build             `yaml:"build" json:"build"`
	Hardening  Hardening         `yaml:"hardening" json:"hardening"`
	// TrustedKeys are public key files (relative to the tree) or
	// fingerprints of keys in Keel's key store that repositories and
	// packages composed into images must be signed with.
	TrustedKeys []string `yaml:"trusted_keys" json:"trusted_keys,omitempty"`
	// Sections owned by later pipelines (images, advisories, releases) are
	// kept as raw YAML so this package does not need to know them.
	Extra map[string]yaml.Node `yaml:",inline" json:"-"`
}

// SourceDateEpoch is either "changelog" (per package, from its newest
// %changelog entry) or a fixed Unix time.
type SourceDateEpoch struct {
	FromChangelog bool
	Fixed         int64
}

func (s *SourceDateEpoch) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "changelog" || n.Value == "" {
		*s = SourceDateEpoch{FromChangelog: true}
		return nil
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("want \"changelog\" or a Unix time, got %q", n.Value)
	}
	*s = SourceDateEpoch{Fixed: v}
	return nil
}

func (s SourceDateEpoch) MarshalYAML() (any, error) {
	if s.FromChangelog {
		return "changelog", nil
	}
	return s.Fixed, nil
}

type Sources struct {
	Lookaside []string `yaml:"lookaside" json:"lookaside,omitempty"`
	Mirrors   []string `yaml:"mirrors" json:"mirrors,omitempty"`
}

type Build struct {
	Jobs    int    `yaml:"jobs" json:"jobs"`
	Sandbox string `yaml:"sandbox" json:"sandbox"`
}

type Hardening struct {
	Require    []string    `yaml:"require" json:"require"`
	Exemptions []Exemption `yaml:"exemptions" json:"exemptions,omitempty"`
}

// Exemption waives named checks for one ELF (path may be a glob) of one package.
type Exemption struct {
	Package string   `yaml:"package" json:"package"`
	Path    string   `yaml:"path" json:"path"`
	Checks  []string `yaml:"checks" json:"checks"`
	Reason  string   `yaml:"reason" json:"reason"`
}

// Distro is a loaded distribution tree.
type Distro struct {
	Dir    string // absolute path of the tree
	Config Config
}

// Load reads dir/keel.yaml and validates it. Errors name the file and line.
func Load(dir string) (*Distro, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(abs, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not a distribution tree (no %s); pass --distro DIR", abs, ConfigFile)
		}
		return nil, err
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	return &Distro{Dir: abs, Config: *cfg}, nil
}

// Sections are the top-level keel.yaml keys Config keeps in Extra for the
// pipelines that own them (release, security: pkg/release). Any other key
// Config does not know is an error.
var Sections = []string{"release", "security"}

// ParseConfig decodes and validates keel.yaml content.
func ParseConfig(data []byte) (*Config, error) { return parseConfig(ConfigFile, data) }

// parseConfig decodes strictly: unknown keys and wrong types are errors
// naming path, line and the known keys.
func parseConfig(path string, data []byte) (*Config, error) {
	var cfg Config
	if err := strictyaml.Decode(path, data, &cfg, Sections...); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

var knownChecks = map[string]bool{"pie": true, "relro": true, "bindnow": true, "nxstack": true, "canary": true, "fortify": true, "norpath": true}

func (c *Config) validate() error {
	var errs []string
	req := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Sprintf("field %q is required", field))
		}
	}
	req("name", c.Name)
	req("version", c.Version)
	req("arch", c.Arch)
	req("dist_tag", c.DistTag)
	if c.DistTag != "" && !strings.HasPrefix(c.DistTag, ".") {
		errs = append(errs, fmt.Sprintf("dist_tag %q: must start with '.' (e.g. .kl1)", c.DistTag))
	}
	switch c.Build.Sandbox {
	case "":
		c.Build.Sandbox = "bwrap"
	case "bwrap", "none":
	default:
		errs = append(errs, fmt.Sprintf("build.sandbox %q: want bwrap or none", c.Build.Sandbox))
	}
	if c.Build.Jobs < 0 {
		errs = append(errs, "build.jobs must be >= 0")
	}
	if c.Hardening.Require == nil {
		c.Hardening.Require = []string{"pie", "relro", "bindnow", "nxstack", "canary", "fortify", "norpath"}
	}
	for _, r := range c.Hardening.Require {
		if !knownChecks[r] {
			errs = append(errs, fmt.Sprintf("hardening.require: unknown check %q (known: pie relro bindnow nxstack canary fortify norpath)", r))
		}
	}
	for i, e := range c.Hardening.Exemptions {
		if e.Package == "" || e.Path == "" || len(e.Checks) == 0 {
			errs = append(errs, fmt.Sprintf("hardening.exemptions[%d]: package, path and checks are required", i))
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs = append(errs, fmt.Sprintf("hardening.exemptions[%d] (%s %s): an exemption needs a written reason", i, e.Package, e.Path))
		}
		for _, ch := range e.Checks {
			if !knownChecks[ch] {
				errs = append(errs, fmt.Sprintf("hardening.exemptions[%d]: unknown check %q", i, ch))
			}
		}
	}
	for i, k := range c.TrustedKeys {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Sprintf("trusted_keys[%d]: empty: want a public key file or a fingerprint", i))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Jobs is the effective build parallelism.
func (d *Distro) Jobs() int {
	if d.Config.Build.Jobs > 0 {
		return d.Config.Build.Jobs
	}
	return runtime.NumCPU()
}

// SpecsDir is where package specs live: SPECS/<name>/<name>.spec.
func (d *Distro) SpecsDir() string { return filepath.Join(d.Dir, "SPECS") }

// SpecPaths lists every SPECS/<name>/<name>.spec, sorted by name.
func (d *Distro) SpecPaths() ([]string, error) {
	entries, err := os.ReadDir(d.SpecsDir())
	if err != nil {
		return nil, fmt.Errorf("reading specs: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(d.SpecsDir(), e.Name(), e.Name()+".spec")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: package directory without %s.spec", filepath.Join(d.SpecsDir(), e.Name()), e.Name())
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// Lookaside returns the lookaside directories in search order: $KEEL_LOOKASIDE
// first, then keel.yaml's list with relative paths resolved against the tree.
func (d *Distro) Lookaside() []string {
	var out []string
	if env := os.Getenv("KEEL_LOOKASIDE"); env != "" {
		out = append(out, filepath.SplitList(env)...)
	}
	for _, l := range d.Config.Sources.Lookaside {
		if !filepath.IsAbs(l) && !strings.Contains(l, "://") {
			l = filepath.Join(d.Dir, l)
		}
		out = append(out, l)
	}
	return out
}

// Macro is one rpm macro definition (name, value).
type Macro struct{ Name, Value string }

// RPMMacros are the definitions every build and every spec query of this
// distribution gets: the dist tag, the keel_* identity macros (keel-release
// uses them) and keel.yaml's macros map, sorted by name.
func (d *Distro) RPMMacros() []Macro {
	c := d.Config
	ms := []Macro{
		{"dist", c.DistTag},
		{"keel_name", c.Name},
		{"keel_pretty_name", c.PrettyName},
		{"keel_version", c.Version},
		{"keel_home_url", c.HomeURL},
		{"keel_bug_url", c.BugURL},
		{"keel_vendor", c.Vendor},
	}
	for k, v := range c.Macros {
		ms = append(ms, Macro{k, v})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	out := ms[:0]
	for _, m := range ms {
		if m.Value != "" {
			out = append(out, m)
		}
	}
	return out
}

// PackageNames are the source package names (SPECS/<name>/), sorted.
func (d *Distro) PackageNames() ([]string, error) {
	paths, err := d.SpecPaths()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(filepath.Dir(p))
	}
	return out, nil
}

// TrustedKeys are keel.yaml's trusted_keys, key files resolved against the
// tree (fingerprints as they are).
func (d *Distro) TrustedKeys() []string {
	out := make([]string, len(d.Config.TrustedKeys))
	for i, k := range d.Config.TrustedKeys {
		if !pgp.IsFingerprint(k) && !filepath.IsAbs(k) {
			k = filepath.Join(d.Dir, k)
		}
		out[i] = k
	}
	return out
}
