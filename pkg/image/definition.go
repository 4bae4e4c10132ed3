// Package image composes Keel Linux images: it loads a declarative image
// definition (distro/images/*.yaml), resolves its packages from a
// repository, installs them into a fresh root (safe extraction, built-in
// or sandboxed scriptlets, an rpm database), and writes the outputs (OCI
// layout, docker-archive) with a manifest JSON describing them.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/pkg/strictyaml"
)

// Definition is one image, as written in distro/images/NAME.yaml. Fields
// for bootable images (kernel, partitions) are parsed and validated here
// and used by the bootable outputs.
type Definition struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Kind        string   `yaml:"kind" json:"kind"`                     // container | bootable
	Arch        string   `yaml:"arch,omitempty" json:"arch,omitempty"` // default x86_64
	Packages    []string `yaml:"packages" json:"packages"`
	// Exclude lists packages never installed; requirements only they
	// could meet are dropped (for distroless: no shell even if a
	// scriptlet interpreter asks for one).
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// AssumeProvided lists capabilities treated as present although no
	// package provides them: a visible workaround for packaging bugs.
	AssumeProvided []string `yaml:"assume_provided,omitempty" json:"assume_provided,omitempty"`
	// RPMDB keeps an rpm database in the image (default true).
	RPMDB *bool `yaml:"rpmdb,omitempty" json:"rpmdb,omitempty"`
	// Manifests are package manifests embedded for scanners:
	// "container-manifest-2" (/var/lib/rpmmanifest/container-manifest-2).
	Manifests []string `yaml:"manifests,omitempty" json:"manifests,omitempty"`
	// Scriptlets says what to do with a package's scriptlets: "builtin"
	// (the default: known ones become built-in steps, unknown ones fail),
	// "sandbox" (run unknown ones chrooted into the image with bwrap) or
	// "ignore:<package>" entries to accept dropping one package's scripts.
	Scriptlets []string `yaml:"scriptlets,omitempty" json:"scriptlets,omitempty"`
	// Setuid lists paths allowed to keep a setuid/setgid bit.
	Setuid []string `yaml:"setuid,omitempty" json:"setuid,omitempty"`
	// TrustedKeys are public key files (relative to this file) or
	// fingerprints of keys in Keel's key store that the repository and
	// its packages must be signed with.
	TrustedKeys []string `yaml:"trusted_keys,omitempty" json:"trusted_keys,omitempty"`

	Users  []User   `yaml:"users,omitempty" json:"users,omitempty"`
	Groups []Group  `yaml:"groups,omitempty" json:"groups,omitempty"`
	Files  []File   `yaml:"files,omitempty" json:"files,omitempty"`
	Remove []string `yaml:"remove,omitempty" json:"remove,omitempty"`
	// Services, Sysctl, Firewall, Modules and ModulesDisabled are what
	// keel-init does at boot (initconfig.go).
	Services        []Service         `yaml:"services,omitempty" json:"services,omitempty"`
	Sysctl          map[string]string `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	Firewall        *Firewall         `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	Modules         []string          `yaml:"modules,omitempty" json:"modules,omitempty"`
	ModulesDisabled bool              `yaml:"modules_disabled,omitempty" json:"modules_disabled,omitempty"`
	// SELinux is disabled (the default), permissive (denials logged) or
	// enforcing: the distribution's policy (selinux/*.cil) is compiled,
	// installed and loaded by keel-init at boot (selinux.go).
	SELinux string `yaml:"selinux,omitempty" json:"selinux,omitempty"`
	// IPE is the Integrity Policy Enforcement mode of a verity image: audit
	// or enforce (trustboot.go, docs/boot.md).
	IPE string `yaml:"ipe,omitempty" json:"ipe,omitempty"`

	Kernel     *Kernel     `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	Partitions []Partition `yaml:"partitions,omitempty" json:"partitions,omitempty"`
	Container  *Container  `yaml:"container,omitempty" json:"container,omitempty"`
	Outputs    []Output    `yaml:"outputs" json:"outputs"`

	path string
}

// User is an account created in /etc/passwd (and /etc/shadow, locked).
type User struct {
	Name   string   `yaml:"name" json:"name"`
	UID    int      `yaml:"uid" json:"uid"`
	Group  string   `yaml:"group,omitempty" json:"group,omitempty"` // primary group (default: same name)
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Home   string   `yaml:"home,omitempty" json:"home,omitempty"`
	Shell  string   `yaml:"shell,omitempty" json:"shell,omitempty"`
}

// Group is a group created in /etc/group.
type Group struct {
	Name string `yaml:"name" json:"name"`
	GID  int    `yaml:"gid" json:"gid"`
}

// File is a file written into the image after the packages.
type File struct {
	Path    string `yaml:"path" json:"path"`
	Content string `yaml:"content" json:"content"`
	Mode    string `yaml:"mode,omitempty" json:"mode,omitempty"` // octal, default 0644
}

// Kernel selects the kernel package and command line of a bootable image.
type Kernel struct {
	Package string   `yaml:"package" json:"package"`
	Cmdline []string `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
}

// Partition is one GPT partition of a disk image.
type Partition struct {
	Label      string `yaml:"label" json:"label"`
	Type       string `yaml:"type" json:"type"` // esp | root | usr | var | linux | swap
	Size       string `yaml:"size,omitempty" json:"size,omitempty"`
	Filesystem string `yaml:"filesystem,omitempty" json:"filesystem,omitempty"` // vfat | ext4 | erofs | squashfs
	Mount      string `yaml:"mount,omitempty" json:"mount,omitempty"`
	Verity     bool   `yaml:"verity,omitempty" json:"verity,omitempty"`
	ReadOnly   bool   `yaml:"readonly,omitempty" json:"readonly,omitempty"`
}

// Container is the OCI image configuration.
type Container struct {
	Entrypoint []string          `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	Cmd        []string          `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	Env        []string          `yaml:"env,omitempty" json:"env,omitempty"`
	WorkingDir string            `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	User       string            `yaml:"user,omitempty" json:"user,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Output is one artifact built from the root.
type Output struct {
	Format string `yaml:"format" json:"format"` // oci | docker-archive | rootfs-tar (bootable: raw, qcow2, uki)
	Name   string `yaml:"name,omitempty" json:"name,omitempty"`
	Tag    string `yaml:"tag,omitempty" json:"tag,omitempty"`
}

// Formats this package builds; others belong to the bootable pipeline.
var containerFormats = map[string]bool{"oci": true, "docker-archive": true, "rootfs-tar": true}
var bootFormats = map[string]bool{"raw": true, "qcow2": true, "vhd": true, "uki": true}

// Path is the file the definition was loaded from.
func (d *Definition) Path() string { return d.path }

// WantRPMDB reports whether the image keeps an rpm database.
func (d *Definition) WantRPMDB() bool { return d.RPMDB == nil || *d.RPMDB }

var nameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`) })

// Parse reads a definition strictly (unknown keys and wrong types are
// errors); every error names the file, line and field.
func Parse(path string, data []byte) (*Definition, error) {
	var d Definition
	if err := strictyaml.Decode(path, data, &d); err != nil {
		return nil, err
	}
	d.path = path
	if err := d.validate(); err != nil {
		var node yaml.Node
		_ = yaml.Unmarshal(data, &node)
		return nil, fmt.Errorf("%s:%s %w", path, lineOf(&node, err), err)
	}
	return &d, nil
}

// fieldError names the offending field (a path like users[1].shell) so
// Parse can add its line.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

var fieldStep = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([a-z_]+)((?:\[\d+\])*)$`) })

// lineOf finds the line of the deepest node of err's field path.
func lineOf(doc *yaml.Node, err error) string {
	var fe *fieldError
	if !errors.As(err, &fe) || len(doc.Content) == 0 {
		return ""
	}
	n, line := doc.Content[0], 0
walk:
	for _, step := range strings.Split(fe.field, ".") {
		m := fieldStep().FindStringSubmatch(step)
		if m == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == m[1] {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			break
		}
		n = next
		for _, idx := range strings.FieldsFunc(m[2], func(r rune) bool { return r == '[' || r == ']' }) {
			i, _ := strconv.Atoi(idx)
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				break walk
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	if line == 0 {
		return ""
	}
	return strconv.Itoa(line) + ":"
}

func ferr(field, format string, a ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, a...)}
}

func (d *Definition) validate() error {
	if !nameRe().MatchString(d.Name) {
		return ferr("name", "%q: want lower-case letters, digits, '.', '_' or '-'", d.Name)
	}
	switch d.Kind {
	case "container", "bootable":
	default:
		return ferr("kind", "%q: want container or bootable", d.Kind)
	}
	if d.Arch == "" {
		d.Arch = "x86_64"
	}
	if d.Arch != "x86_64" && d.Arch != "aarch64" {
		return ferr("arch", "%q: want x86_64 or aarch64", d.Arch)
	}
	if len(d.Packages) == 0 {
		return ferr("packages", "at least one package is needed")
	}
	for i, p := range d.Packages {
		if strings.TrimSpace(p) == "" {
			return ferr(fmt.Sprintf("packages[%d]", i), "empty")
		}
	}
	for i, m := range d.Manifests {
		if m != "container-manifest-2" {
			return ferr(fmt.Sprintf("manifests[%d]", i), "%q: want container-manifest-2", m)
		}
	}
	for i, s := range d.Scriptlets {
		if s != "builtin" && s != "sandbox" && !strings.HasPrefix(s, "ignore:") {
			return ferr(fmt.Sprintf("scriptlets[%d]", i), "%q: want builtin, sandbox or ignore:PACKAGE", s)
		}
	}
	for i, k := range d.TrustedKeys {
		if strings.TrimSpace(k) == "" {
			return ferr(fmt.Sprintf("trusted_keys[%d]", i), "empty: want a public key file or a fingerprint")
		}
	}
	for i, f := range d.Files {
		if !strings.HasPrefix(f.Path, "/") || filepath.Clean(f.Path) != f.Path || f.Path == "/" {
			return ferr(fmt.Sprintf("files[%d].path", i), "%q: want a clean absolute path", f.Path)
		}
		if f.Mode != "" {
			if _, err := parseMode(f.Mode); err != nil {
				return ferr(fmt.Sprintf("files[%d].mode", i), "%v", err)
			}
		}
	}
	for i, r := range d.Remove {
		if !strings.HasPrefix(r, "/") || filepath.Clean(r) != r || r == "/" {
			return ferr(fmt.Sprintf("remove[%d]", i), "%q: want a clean absolute path", r)
		}
	}
	if err := d.validateAccounts(); err != nil {
		return err
	}
	if err := d.validateInit(); err != nil {
		return err
	}
	switch d.SELinux {
	case "", "disabled":
	case "permissive", "enforcing":
		if d.Kind != "bootable" {
			return ferr("selinux", "%q: only a bootable image loads a policy (a container runs under its host's)", d.SELinux)
		}
	default:
		return ferr("selinux", "%q: want disabled, permissive or enforcing", d.SELinux)
	}
	for i, p := range d.Partitions {
		switch p.Type {
		case "esp", "root", "usr", "var", "linux", "swap":
		default:
			return ferr(fmt.Sprintf("partitions[%d].type", i), "%q: want esp, root, usr, var, linux or swap", p.Type)
		}
		switch p.Filesystem {
		case "", "vfat", "ext4", "erofs", "squashfs":
		default:
			return ferr(fmt.Sprintf("partitions[%d].filesystem", i), "%q: want vfat, ext4, erofs or squashfs", p.Filesystem)
		}
	}
	if d.Kind == "bootable" && d.Kernel == nil {
		return ferr("kernel", "a bootable image needs a kernel")
	}
	if d.Kind == "bootable" {
		if _, err := planBoot(d); err != nil {
			return err
		}
	}
	if err := d.validateIPE(); err != nil {
		return err
	}
	if len(d.Outputs) == 0 {
		return ferr("outputs", "at least one output is needed")
	}
	seen := map[string]bool{}
	for i, o := range d.Outputs {
		if !containerFormats[o.Format] && !bootFormats[o.Format] {
			return ferr(fmt.Sprintf("outputs[%d].format", i), "%q: want oci, docker-archive, rootfs-tar, raw, qcow2, vhd or uki", o.Format)
		}
		if d.Kind == "container" && !containerFormats[o.Format] {
			return ferr(fmt.Sprintf("outputs[%d].format", i), "%q is a bootable format; this is a container image", o.Format)
		}
		if d.Kind == "bootable" && !bootFormats[o.Format] {
			return ferr(fmt.Sprintf("outputs[%d].format", i), "%q is a container format; this is a bootable image (raw, qcow2, vhd or uki)", o.Format)
		}
		if seen[o.Format] {
			return ferr(fmt.Sprintf("outputs[%d].format", i), "%q listed twice", o.Format)
		}
		seen[o.Format] = true
	}
	return nil
}

func parseMode(s string) (os.FileMode, error) {
	var m uint32
	if _, err := fmt.Sscanf(s, "%o", &m); err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q: want octal like 0644", s)
	}
	return os.FileMode(m), nil
}

// Load reads NAME from dir (NAME.yaml) or a definition at a path.
func Load(dir, nameOrPath string) (*Definition, error) {
	p := nameOrPath
	if !strings.ContainsAny(p, "/") && !strings.HasSuffix(p, ".yaml") {
		p = filepath.Join(dir, p+".yaml")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("image definition: %w", err)
	}
	return Parse(p, data)
}

// List returns the definitions in dir, sorted by name.
func List(dir string) ([]*Definition, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(m)
	var out []*Definition
	for _, p := range m {
		d, err := Load(dir, p)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// accountName is useradd's default NAME_REGEX (shadow-utils), at most 32
// characters: what useradd would have accepted in a scriptlet.
var accountName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`) })

// maxID is the largest uid/gid: (uid_t)-1 is "no id" to chown(2) and
// setresuid(2), so it is never an account's.
const maxID = 1<<32 - 2

// validateAccounts keeps every users[]/groups[] field to what /etc/passwd
// and /etc/group can hold: one line per entry, ':'-separated fields.
func (d *Definition) validateAccounts() error {
	names := map[string]bool{}
	for i, g := range d.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		if !accountName().MatchString(g.Name) {
			return ferr(f+".name", "%q: want a group name groupadd accepts (lower-case letter or '_', then [a-z0-9_-], at most 32)", g.Name)
		}
		if g.GID < 0 || g.GID > maxID {
			return ferr(f+".gid", "%d: want 0 to %d", g.GID, maxID)
		}
		if names[g.Name] {
			return ferr(f+".name", "%q listed twice", g.Name)
		}
		names[g.Name] = true
	}
	users := map[string]bool{}
	for i, u := range d.Users {
		f := fmt.Sprintf("users[%d]", i)
		if !accountName().MatchString(u.Name) {
			return ferr(f+".name", "%q: want a user name useradd accepts (lower-case letter or '_', then [a-z0-9_-], at most 32)", u.Name)
		}
		if users[u.Name] {
			return ferr(f+".name", "%q listed twice", u.Name)
		}
		users[u.Name] = true
		if u.UID < 0 || u.UID > maxID {
			return ferr(f+".uid", "%d: want 0 to %d", u.UID, maxID)
		}
		if u.Group != "" && !accountName().MatchString(u.Group) {
			return ferr(f+".group", "%q: want a group name", u.Group)
		}
		for j, g := range u.Groups {
			if !accountName().MatchString(g) {
				return ferr(fmt.Sprintf("%s.groups[%d]", f, j), "%q: want a group name", g)
			}
		}
		for _, p := range []struct{ field, v string }{{"home", u.Home}, {"shell", u.Shell}} {
			if p.v == "" {
				continue
			}
			if strings.ContainsFunc(p.v, func(r rune) bool { return r == ':' || r < 0x20 || r == 0x7f }) {
				return ferr(f+"."+p.field, "%q: no ':' or control characters (newlines included) in a passwd field", p.v)
			}
			if !strings.HasPrefix(p.v, "/") || filepath.Clean(p.v) != p.v {
				return ferr(f+"."+p.field, "%q: want a clean absolute path", p.v)
			}
		}
	}
	return nil
}
