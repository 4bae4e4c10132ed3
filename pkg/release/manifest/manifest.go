// Package manifest is the data of a Keel release directory, with no
// pipeline in it: manifest.json (what a release is, every file in it),
// notes.json (what changed since the previous one) and the releases index
// (index.json). pkg/release writes them; pkg/release/render draws them.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/keel-linux/keel/pkg/kconfig"
)

// Layout of a release directory.
const (
	ManifestFile = "manifest.json"
	ManifestSig  = "manifest.json.asc"
	NotesJSON    = "notes.json"
	NotesMD      = "notes.md"
	IndexHTML    = "index.html"
	RepoDir      = "repo"
	KernelsDir   = "kernels"
	ReportsDir   = "reports"
	ProvDir      = "provenance"
	IndexFile    = "index.json" // in the releases/ directory: channels and history
)

// Manifest is manifest.json: what a release is, and every file in it.
type Manifest struct {
	Distro      string            `json:"distro"`
	PrettyName  string            `json:"pretty_name,omitempty"` // keel.yaml pretty_name: titles of notes and dashboard
	Version     string            `json:"version"`               // 1.0.YYYYMMDD
	Date        string            `json:"date"`                  // YYYY-MM-DD
	Channel     string            `json:"channel"`
	Security    bool              `json:"security,omitempty"`
	Previous    string            `json:"previous,omitempty"`
	InputDigest string            `json:"input_digest"` // what a re-run compares to be a no-op
	Keel        string            `json:"keel_version"`
	Git         string            `json:"git,omitempty"` // commit of the tree, when it is a git checkout
	Sources     []SourcePackage   `json:"source_packages"`
	Packages    []BinaryPackage   `json:"packages"`
	Kernels     []Kernel          `json:"kernels"`
	Gates       []GateResult      `json:"gates"`
	Artifacts   []Artifact        `json:"artifacts"`
	CVEs        *CVESummary       `json:"cves,omitempty"`   // nil until advisory matching is part of the cut
	Images      []ImageSummary    `json:"images,omitempty"` // empty until images are part of the cut
	Extra       map[string]string `json:"extra,omitempty"`
}

// CVESummary is what the CVE scan of a release found.
type CVESummary struct {
	Open     int          `json:"open"`
	Fixed    int          `json:"fixed"`
	Breached int          `json:"sla_breached"`
	DueSoon  int          `json:"sla_due_soon"`
	Findings []CVEFinding `json:"findings"`
}

// CVEFinding is one CVE against one package of the release.
type CVEFinding struct {
	ID       string `json:"id"`
	Package  string `json:"package"`
	Severity string `json:"severity"`
	Status   string `json:"status"` // open | fixed | not-affected | fix-not-planned
	SLA      string `json:"sla,omitempty"`
	FixedIn  string `json:"fixed_in,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// ImageSummary is one image variant of the release.
type ImageSummary struct {
	Name        string  `json:"name"`
	Format      string  `json:"format"`
	Size        int64   `json:"size"`
	BootSeconds float64 `json:"boot_seconds,omitempty"`
	File        string  `json:"file"`
}

// SourcePackage is one spec of the tree as released.
type SourcePackage struct {
	Name string `json:"name"`
	EVR  string `json:"evr"`
	Type string `json:"type"` // source | imported
}

// BinaryPackage is one RPM in the release's repository. Field names match
// what scanners read from image manifests.
type BinaryPackage struct {
	Name    string `json:"name"`
	Epoch   int    `json:"epoch"`
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch"`
	Source  string `json:"source"` // source package name
	File    string `json:"file"`   // path in the release directory
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// EVR renders [epoch:]version-release.
func (p BinaryPackage) EVR() string {
	if p.Epoch != 0 {
		return fmt.Sprintf("%d:%s-%s", p.Epoch, p.Version, p.Release)
	}
	return p.Version + "-" + p.Release
}

// Kernel is one kernel package and the policy verdicts on its config.
type Kernel struct {
	Package string            `json:"package"`
	EVR     string            `json:"evr"`
	Release string            `json:"uname_r"`
	Config  string            `json:"config"`                  // path in the release directory
	Policy  map[string]string `json:"policy"`                  // policy name -> "pass" | "N missing, M mismatched"
	Gating  string            `json:"gating_policy,omitempty"` // the policy of release.kernel_policy, which gates
	Parsed  kconfig.Config    `json:"-"`                       // the config, when the cut has it in memory
}

// GateResult is one gate's verdict.
type GateResult struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"` // pass | fail | waived | skipped
	Summary    string   `json:"summary"`
	Failures   []string `json:"failures,omitempty"`
	Exceptions []string `json:"exceptions,omitempty"` // failures waived by a written reason
}

// Artifact is one file of the release with its digest.
type Artifact struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Kind   string `json:"kind"` // rpm, srpm, repodata, kernel-config, report, notes, provenance, key
}

// ReadManifest loads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

// Sort orders the manifest's lists, so that two cuts write the same bytes.
func (m *Manifest) Sort() {
	sort.Slice(m.Sources, func(i, j int) bool { return m.Sources[i].Name < m.Sources[j].Name })
	sort.Slice(m.Packages, func(i, j int) bool {
		if m.Packages[i].Name != m.Packages[j].Name {
			return m.Packages[i].Name < m.Packages[j].Name
		}
		return m.Packages[i].Arch < m.Packages[j].Arch
	})
	sort.Slice(m.Kernels, func(i, j int) bool { return m.Kernels[i].Package < m.Kernels[j].Package })
	sort.Slice(m.Artifacts, func(i, j int) bool { return m.Artifacts[i].Path < m.Artifacts[j].Path })
}

// Title is the distribution's human name: pretty_name, else its name.
func (m *Manifest) Title() string {
	if m.PrettyName != "" {
		return m.PrettyName
	}
	return m.Distro
}
