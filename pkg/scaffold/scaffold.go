// Package scaffold writes a new distribution tree (keel init): keel.yaml, a
// macros package, a release package (os-release), one example package, a
// container image and a kernel policy. Every name in it comes from the
// options, so a tree for "acme" says nothing of Keel Linux.
package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Options name the distribution.
type Options struct {
	Name       string    // keel.yaml name: os-release ID, package and file prefix (e.g. acme)
	PrettyName string    // default: Name capitalised + " Linux"
	Version    string    // e.g. 2; releases are <Version>.YYYYMMDD
	DistTag    string    // default: "." + Name + the major version (.acme2)
	Date       time.Time // of the first %changelog entries; default today (UTC)
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
	distRE    = regexp.MustCompile(`^\.[A-Za-z0-9_.+]+$`)
)

// ErrNotEmpty is returned for a directory that already holds files.
var ErrNotEmpty = errors.New("not empty")

// Init writes the tree into dir, which must not exist or be empty. The tree
// is written aside and renamed into place: dir is never half-written.
func Init(dir string, opt Options) error {
	if err := opt.fill(); err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is %w (%d entries): keel init writes a new tree; give a new or empty directory", dir, ErrNotEmpty, len(ents))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".keel-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files, err := Files(opt)
	if err != nil {
		return err
	}
	for _, rel := range sortedKeys(files) {
		p := filepath.Join(tmp, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[rel], 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	_ = os.Remove(dir) // an empty directory is replaced
	return os.Rename(tmp, dir)
}

func (o *Options) fill() error {
	if !nameRE.MatchString(o.Name) {
		return fmt.Errorf("--name %q: want a lower-case name of letters, digits and '-' starting with a letter (it becomes the os-release ID and a package prefix)", o.Name)
	}
	if !versionRE.MatchString(o.Version) {
		return fmt.Errorf("--version %q: want a version of digits and dots, e.g. 2 or 1.0 (releases are <version>.YYYYMMDD)", o.Version)
	}
	if o.PrettyName == "" {
		o.PrettyName = strings.ToUpper(o.Name[:1]) + o.Name[1:] + " Linux"
	}
	if strings.ContainsAny(o.PrettyName, "\"\n\\%") {
		return fmt.Errorf("pretty name %q: quotes, backslashes, %% and newlines are not allowed (it goes into os-release and rpm macros)", o.PrettyName)
	}
	if o.DistTag == "" {
		major, _, _ := strings.Cut(o.Version, ".")
		o.DistTag = "." + strings.ReplaceAll(o.Name, "-", "") + major
	}
	if !distRE.MatchString(o.DistTag) {
		return fmt.Errorf("dist tag %q: want '.' then letters, digits, '_', '.' or '+' (it ends every Release)", o.DistTag)
	}
	if o.Date.IsZero() {
		o.Date = time.Now().UTC()
	}
	return nil
}

// Files is the tree as relative path → content.
func Files(opt Options) (map[string][]byte, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	v := map[string]string{
		"Name": opt.Name, "Pretty": opt.PrettyName, "Version": opt.Version, "Dist": opt.DistTag,
		"Date": opt.Date.UTC().Format("Mon Jan 02 2006"), "Macros": opt.Name + "-rpm-macros", "Release": opt.Name + "-release",
	}
	out := map[string][]byte{}
	for path, body := range templates {
		var p, b bytes.Buffer
		if err := template.Must(template.New(path).Parse(path)).Execute(&p, v); err != nil {
			return nil, err
		}
		if err := template.Must(template.New(path).Delims("[[", "]]").Parse(body)).Execute(&b, v); err != nil {
			return nil, err
		}
		out[p.String()] = b.Bytes()
	}
	return out, nil
}

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
