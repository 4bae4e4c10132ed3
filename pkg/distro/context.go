package distro

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/spec"
	"github.com/keel-linux/keel/pkg/uki"
)

// Context is the distribution a command works on and the conventions every
// pipeline shares about it: the resolved tree, the cache, how its specs are
// read, its clock and the names it publishes under. `keel specs`, the
// build plan and advisory evidence read specs through the same
// SpecOptions, so what one prints is what the others plan from.
type Context struct {
	*Distro
	Cache string
}

// NewContext resolves dir (see Resolve: the flag, ./distro, else the
// embedded tree) and loads its keel.yaml; a bad keel.yaml is an error here,
// never silently skipped.
func NewContext(dir, cache string) (*Context, error) {
	d, err := Resolve(dir, cache)
	if err != nil {
		return nil, err
	}
	return &Context{Distro: d, Cache: cache}, nil
}

// ImagesDir holds the tree's image definitions (images/<name>.yaml).
func (d *Distro) ImagesDir() string { return filepath.Join(d.Dir, "images") }

// MacroFile is the distribution's own macro file, shipped by its macros
// package; loaded after rpm's defaults when the tree has it.
func (d *Distro) MacroFile() string {
	return filepath.Join(d.SpecsDir(), "keel-rpm-macros", "macros.keel")
}

// SpecOptions is the one configuration the tree's specs are read with: its
// macros file, keel.yaml's dist tag, identity and macros map (as rpm
// --define, before any caller's own), its arch, and %(...) run as rpmspec
// and rpmbuild run it (rpm's own %_smp_mflags and %make_build use it; the
// tree's specs are the distribution's own, not input to distrust).
func (d *Distro) SpecOptions() spec.Options {
	o := spec.Options{Arch: d.Config.Arch, Shell: spec.ShellRun}
	for _, m := range d.RPMMacros() {
		o.Defines = append(o.Defines, m.Name+" "+m.Value)
	}
	if _, err := os.Stat(d.MacroFile()); err == nil {
		o.Load = []string{d.MacroFile()}
	}
	return o
}

// SpecReader is a spec.Reader with SpecOptions and the caller's extra
// --define lines (applied after the tree's, so they win).
func (d *Distro) SpecReader(defines ...string) (*spec.Reader, error) {
	o := d.SpecOptions()
	o.Defines = append(slices.Clone(o.Defines), defines...)
	return spec.NewReader(o)
}

// Publisher is how the distribution names itself in what it publishes
// (VEX and OVAL documents, SBOMs, purls, key user IDs), from keel.yaml.
type Publisher struct {
	Name          string // "Keel Linux" (pretty_name, else name)
	Vendor        string // vendor, else Name
	Namespace     string // home_url without a trailing slash: the VEX publisher namespace
	OVALNamespace string // reverse-DNS of home_url's host: OVAL id namespace
	Platform      string // "Keel Linux 1.0": OVAL affected platform
	PurlNamespace string // purl namespace: name
	PurlDistro    string // purl distro qualifier: name-version
	Ecosystem     string // OSV ecosystem of the distribution's own records: "Keel Linux:1.0"
	Email         string // security contact for key user IDs: security@<home_url host>
}

// Publisher derives the publishing identity from keel.yaml.
func (d *Distro) Publisher() Publisher {
	c := d.Config
	p := Publisher{Name: c.PrettyName, Vendor: c.Vendor, PurlNamespace: c.Name, PurlDistro: c.Name + "-" + c.Version}
	if p.Name == "" {
		p.Name = c.Name
	}
	if p.Vendor == "" {
		p.Vendor = p.Name
	}
	p.Platform = p.Name + " " + c.Version
	p.Ecosystem = p.Name + ":" + c.Version
	host := c.Name + ".invalid"
	p.Namespace = "https://" + host
	if u, err := url.Parse(c.HomeURL); err == nil && u.Host != "" {
		host = u.Hostname()
		p.Namespace = strings.TrimSuffix(c.HomeURL, "/")
	}
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	p.OVALNamespace = strings.Join(labels, ".")
	p.Email = "security@" + host
	return p
}

// Keys is a key directory: the OpenPGP signing key (packages, repository,
// manifests, verity root hashes) and the Secure Boot pair beside it, as
// `keel keys init` writes them.
type Keys struct{ Dir string }

// KeysAt is the key directory dir, or the default ($KEEL_KEYS, else
// ~/.local/share/keel/keys: outside any checkout) when dir is "".
func KeysAt(dir string) Keys {
	if dir == "" {
		dir = pgp.DefaultDir()
	}
	return Keys{Dir: dir}
}

// Signing loads the OpenPGP signing key; the error says how to make one.
func (k Keys) Signing() (*pgp.Key, error) {
	key, err := pgp.LoadDir(k.Dir)
	if err != nil {
		return nil, fmt.Errorf("signing key in %s: %w (run `keel keys init` or pass --keys DIR)", k.Dir, err)
	}
	return key, nil
}

// PublicKey is the exported public key file clients trust (RPM-GPG-KEY-*).
func (k Keys) PublicKey() string { return filepath.Join(k.Dir, pgp.PublicFile) }

// SecureBoot is the UKI signing pair in the directory, or "", "" when the
// directory has none.
func (k Keys) SecureBoot() (key, cert string) {
	key = filepath.Join(k.Dir, uki.SigningKeyFile)
	if _, err := os.Stat(key); err != nil {
		return "", ""
	}
	return key, filepath.Join(k.Dir, uki.SigningCertFile)
}

// Epoch is the one rule for reproducible time stamps:
// $SOURCE_DATE_EPOCH when set (it must be a non-negative integer of
// seconds), else 0 for "unset".
func Epoch() (int64, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative integer of seconds", s)
	}
	return v, nil
}

// Now is the time generated documents carry: SOURCE_DATE_EPOCH when set,
// else the current time, in UTC.
func Now() (time.Time, error) {
	sde, err := Epoch()
	if err != nil || sde == 0 {
		return time.Now().UTC(), err
	}
	return time.Unix(sde, 0).UTC(), nil
}

// Now is the time documents generated from this tree carry:
// SOURCE_DATE_EPOCH when set, else keel.yaml's fixed source_date_epoch,
// else the current time ("changelog" dates packages, not documents).
func (d *Distro) Now() (time.Time, error) {
	if sde, err := Epoch(); err != nil || sde != 0 || d.Config.SDE.FromChangelog {
		return Now()
	}
	return time.Unix(d.Config.SDE.Fixed, 0).UTC(), nil
}
