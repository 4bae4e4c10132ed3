package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
)

// LockVersion is the lock file format this Keel writes and reads.
const LockVersion = 1

// Lock is <image>.lock: every package a build resolved, by NEVRA and
// checksum, and the repository it came from. Built with it (--locked), an
// image gets exactly that set again, whatever the repositories gained
// since, or the build fails naming what moved. docs/schema/lock.schema.json
// describes it.
type Lock struct {
	LockVersion int    `json:"lock_version"`
	Image       string `json:"image"`
	Arch        string `json:"arch"`
	// Request is the sha256 of what the definition asks the resolver for
	// (arch, packages, exclude, assume_provided): a lock written for
	// another request is stale.
	Request      string          `json:"request"`
	Repositories []string        `json:"repositories"`
	Packages     []LockedPackage `json:"packages"`

	path string // the file it was read from, for messages
}

// LockedPackage is one resolved package.
type LockedPackage struct {
	Name       string `json:"name"`
	Epoch      int    `json:"epoch"`
	Version    string `json:"version"`
	Release    string `json:"release"`
	Arch       string `json:"arch"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	Repository string `json:"repository"` // the repository's URL (or directory)
	Href       string `json:"href"`       // the package's location in it
}

func (p LockedPackage) nevra() string {
	evr := p.Version + "-" + p.Release
	if p.Epoch != 0 {
		evr = fmt.Sprint(p.Epoch) + ":" + evr
	}
	return p.Name + "-" + evr + "." + p.Arch
}

// requestDigest is Lock.Request for a definition.
func requestDigest(d *Definition) string {
	js, _ := json.Marshal(struct {
		Arch           string   `json:"arch"`
		Packages       []string `json:"packages"`
		Exclude        []string `json:"exclude"`
		AssumeProvided []string `json:"assume_provided"`
	}{d.Arch, d.Packages, d.Exclude, d.AssumeProvided})
	s := sha256.Sum256(js)
	return hex.EncodeToString(s[:])
}

// newLock records a resolution. Packages are sorted by name and arch, so
// the same resolution always gives the same bytes.
func newLock(d *Definition, repos []string, pkgs []*resolve.Package) *Lock {
	l := &Lock{LockVersion: LockVersion, Image: d.Name, Arch: d.Arch, Request: requestDigest(d), Repositories: repos,
		Packages: []LockedPackage{}}
	for _, p := range pkgs {
		l.Packages = append(l.Packages, LockedPackage{Name: p.Name, Epoch: p.EVR.Epoch, Version: p.EVR.Version, Release: p.EVR.Release,
			Arch: p.Arch, SHA256: p.Checksum, Size: p.Size, Repository: p.Repo, Href: p.Href})
	}
	sort.Slice(l.Packages, func(i, j int) bool {
		a, b := l.Packages[i], l.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	return l
}

// Marshal is the lock's file content: indented JSON, one trailing newline.
func (l *Lock) Marshal() []byte {
	js, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		panic(err) // strings and integers only
	}
	return append(js, '\n')
}

// WriteLock replaces path with l, atomically.
func WriteLock(path string, l *Lock) error {
	return atomicfile.WriteFile(path, l.Marshal(), 0o644)
}

// ReadLock reads a lock file.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lock file %s: build once without --locked to write it (or name it with --lock FILE)", path)
	}
	if err != nil {
		return nil, err
	}
	return ParseLock(path, data)
}

// ParseLock decodes a lock file strictly: unknown keys, wrong types and
// missing or malformed fields are errors naming the file, line and field.
func ParseLock(name string, data []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s:%d: %v", name, lineAt(data, se.Offset), se)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s:%d: field %s: expected %s, got %s", name, lineAt(data, te.Offset), te.Field, te.Type, te.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		off := dec.InputOffset()
		if key, ok := strings.CutPrefix(msg, "unknown field "); ok {
			if i := bytes.Index(data, []byte(key)); i >= 0 {
				off = int64(i)
			}
		}
		return nil, fmt.Errorf("%s:%d: %s (a lock file has lock_version, image, arch, request, repositories, packages)", name, lineAt(data, off), msg)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s:%d: more than one JSON value", name, lineAt(data, dec.InputOffset()))
	}
	l.path = name
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &l, nil
}

func lineAt(data []byte, off int64) int {
	off = max(0, min(off, int64(len(data))))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func (l *Lock) check() error {
	if l.LockVersion != LockVersion {
		return fmt.Errorf("lock_version %d: this Keel reads version %d", l.LockVersion, LockVersion)
	}
	if l.Image == "" || l.Arch == "" {
		return errors.New("image and arch are required")
	}
	if !isHex64(l.Request) {
		return fmt.Errorf("request %q: expected a sha256 (64 lowercase hex digits)", l.Request)
	}
	seen := map[string]bool{}
	for i, p := range l.Packages {
		at := fmt.Sprintf("packages[%d]", i)
		switch {
		case p.Name == "" || p.Version == "" || p.Release == "" || p.Arch == "":
			return fmt.Errorf("%s: name, version, release and arch are required", at)
		case p.Epoch < 0 || p.Size < 0:
			return fmt.Errorf("%s (%s): negative epoch or size", at, p.Name)
		case !isHex64(p.SHA256):
			return fmt.Errorf("%s (%s): sha256 %q: expected 64 lowercase hex digits", at, p.Name, p.SHA256)
		case !repodata.ValidHref(p.Href):
			return fmt.Errorf("%s (%s): href %q: expected a clean path inside the repository", at, p.Name, p.Href)
		case p.Repository == "":
			return fmt.Errorf("%s (%s): repository is required", at, p.Name)
		case seen[p.Name+"."+p.Arch]:
			return fmt.Errorf("%s: %s.%s is listed twice", at, p.Name, p.Arch)
		}
		seen[p.Name+"."+p.Arch] = true
	}
	return nil
}

// staleHint is how every "no longer resolves" message ends.
const staleHint = "build without --locked to resolve afresh and rewrite the lock"

// pick returns, of the repositories' packages, exactly those the lock
// lists (same NEVRA and checksum, from whichever repository has them), or
// an error naming every locked package that moved.
func (l *Lock) pick(d *Definition, pkgs []*resolve.Package) ([]*resolve.Package, error) {
	if l.Image != d.Name {
		return nil, fmt.Errorf("lock %s is for image %s, not %s", l.path, l.Image, d.Name)
	}
	if l.Request != requestDigest(d) {
		return nil, fmt.Errorf("lock %s was written for another request (the definition's arch, packages, exclude or assume_provided changed since): %s", l.path, staleHint)
	}
	bySum := map[string]*resolve.Package{}
	byName := map[string][]*resolve.Package{}
	for _, p := range pkgs {
		if bySum[p.Checksum] == nil {
			bySum[p.Checksum] = p
		}
		byName[p.Name+"."+p.Arch] = append(byName[p.Name+"."+p.Arch], p)
	}
	var out []*resolve.Package
	var moved []string
	for _, lp := range l.Packages {
		p := bySum[lp.SHA256]
		if p != nil && p.NEVRA() == lp.nevra() {
			out = append(out, p)
			continue
		}
		now := byName[lp.Name+"."+lp.Arch]
		switch {
		case p != nil:
			moved = append(moved, fmt.Sprintf("%s (its file is now listed as %s)", lp.nevra(), p.NEVRA()))
		case len(now) == 0:
			moved = append(moved, lp.nevra()+" is gone")
		default:
			var have []string
			for _, n := range now {
				have = append(have, n.EVR.String())
			}
			sort.Strings(have)
			what := "was rebuilt (another sha256)"
			if !containsEVR(now, lp) {
				what = "is gone"
			}
			moved = append(moved, fmt.Sprintf("%s %s; the repositories have %s", lp.nevra(), what, strings.Join(have, ", ")))
		}
	}
	if len(moved) > 0 {
		return nil, fmt.Errorf("lock %s no longer resolves: %s: %s (or restore the repository it was written against)", l.path, strings.Join(moved, "; "), staleHint)
	}
	return out, nil
}

func containsEVR(ps []*resolve.Package, lp LockedPackage) bool {
	for _, p := range ps {
		if p.NEVRA() == lp.nevra() {
			return true
		}
	}
	return false
}

// checkSame fails when resolving the definition from the locked packages
// did not give exactly the locked set.
func (l *Lock) checkSame(got []*resolve.Package) error {
	in := map[string]bool{}
	for _, p := range got {
		in[p.Checksum] = true
	}
	var unused []string
	for _, lp := range l.Packages {
		if !in[lp.SHA256] {
			unused = append(unused, lp.nevra())
		}
	}
	if len(unused) > 0 {
		return fmt.Errorf("lock %s lists packages the definition no longer needs (%s): %s", l.path, strings.Join(unused, ", "), staleHint)
	}
	return nil
}
