package release

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/strictyaml"
)

// Config is keel.yaml's `release:` section.
type Config struct {
	// KernelPolicy is Keel's own required-options list (relative to the tree).
	KernelPolicy string `yaml:"kernel_policy"`
	// References are other policies checked and reported, never gating.
	References []ReferencePolicy `yaml:"reference_kernel_policies"`
	// Exceptions waive one gate failure each, with a written reason.
	Exceptions []Exception `yaml:"exceptions"`
	// BaseURL is where clients find a release's repository; {version} is
	// replaced. Default: <home_url>releases/{version}/repo. Written into
	// repo/keel.repo, so it must not depend on where the cut runs.
	BaseURL string `yaml:"base_url"`
}

// ReferencePolicy is e.g. Azure Linux's required-kernel-configs JSON;
// Flavours maps a Keel kernel package to the flavour name in that file.
type ReferencePolicy struct {
	Name     string            `yaml:"name"`
	Format   string            `yaml:"format"` // azurelinux | keel
	Path     string            `yaml:"path"`
	Flavours map[string]string `yaml:"flavours"`
}

// Exception waives a gate failure: Item is matched against the failure
// text's prefix (e.g. "kernel:CONFIG_SCHED_CORE").
type Exception struct {
	Gate   string `yaml:"gate"`
	Item   string `yaml:"item"`
	Reason string `yaml:"reason"`
}

// LoadConfig reads the release section of a distribution's keel.yaml.
func LoadConfig(d *distro.Distro) (*Config, error) {
	c := &Config{KernelPolicy: "kernel-policy.yaml", BaseURL: strings.TrimSuffix(d.Config.HomeURL, "/") + "/releases/{version}/repo"}
	n, ok := d.Config.Extra["release"]
	if !ok {
		return c, nil
	}
	if err := strictyaml.DecodeNode(filepath.Join(d.Dir, distro.ConfigFile), &n, "release", c); err != nil {
		return nil, err
	}
	for i, e := range c.Exceptions {
		if e.Gate == "" || e.Item == "" || e.Reason == "" {
			return nil, fmt.Errorf("%s/keel.yaml: release.exceptions[%d] (line %d): gate, item and a written reason are required", d.Dir, i, n.Line)
		}
	}
	for i, r := range c.References {
		if r.Format != "azurelinux" && r.Format != "keel" {
			return nil, fmt.Errorf("%s/keel.yaml: release.reference_kernel_policies[%d]: format %q, want azurelinux or keel", d.Dir, i, r.Format)
		}
	}
	return c, nil
}
