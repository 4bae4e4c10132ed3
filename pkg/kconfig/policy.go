package kconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule requires an option to have one of Allowed values on the given
// architectures (all when empty).
type Rule struct {
	Option  string   `yaml:"option" json:"option"`
	Allowed []string `yaml:"values" json:"values"`
	Arches  []string `yaml:"arch,omitempty" json:"arch,omitempty"`
	Why     string   `yaml:"why" json:"why"`
}

// Policy is a named list of rules.
type Policy struct {
	Name  string `yaml:"name" json:"name"`
	Rules []Rule `yaml:"options" json:"options"`
}

// ParseKeelPolicy reads Keel's YAML policy:
//
//	name: keel-linux-1.0
//	options:
//	  - option: CONFIG_DM_VERITY
//	    values: [m, y]
//	    why: dm-verity for the guard host
func ParseKeelPolicy(data []byte, file string) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for i, r := range p.Rules {
		if !strings.HasPrefix(r.Option, "CONFIG_") || len(r.Allowed) == 0 {
			return nil, fmt.Errorf("%s: options[%d] (%q): want option: CONFIG_* and at least one value", file, i, r.Option)
		}
		if strings.TrimSpace(r.Why) == "" {
			return nil, fmt.Errorf("%s: options[%d] (%s): every required option needs a 'why'", file, i, r.Option)
		}
	}
	return &p, nil
}

// azlFile is Azure Linux's azl3-os-required-kernel-configs.json.
type azlFile struct {
	Default   azlList   `json:"default"`
	Overrides []azlList `json:"overrides"`
}

type azlList struct {
	Name    string `json:"name"`
	Configs []struct {
		Name   string `json:"name"`
		Values []struct {
			Arch  string `json:"architecture"`
			Value string `json:"value"`
		} `json:"values"`
		Justification string `json:"justification"`
	} `json:"kernel_configs"`
}

// ParseAzureLinuxPolicy reads Azure Linux's required-kernel-configs JSON
// for one kernel flavour: the default list with that flavour's overrides
// applied (an override replaces the default rule for the same option, per
// architecture). arch is Keel's name (x86_64, aarch64); Azure Linux writes
// arm64 for the latter.
func ParseAzureLinuxPolicy(data []byte, file, flavour string) (*Policy, error) {
	var f azlFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(f.Default.Configs) == 0 {
		return nil, fmt.Errorf("%s: no default.kernel_configs: not an Azure Linux required-kernel-configs file", file)
	}
	type key struct{ opt, arch string }
	rules := map[key]Rule{}
	add := func(l azlList) error {
		for i, c := range l.Configs {
			if !strings.HasPrefix(c.Name, "CONFIG_") {
				return fmt.Errorf("%s: %s.kernel_configs[%d]: name %q is not CONFIG_*", file, l.Name, i, c.Name)
			}
			for _, v := range c.Values {
				arch := v.Arch
				if arch == "arm64" {
					arch = "aarch64"
				}
				rules[key{c.Name, arch}] = Rule{Option: c.Name, Allowed: []string{v.Value}, Arches: []string{arch}, Why: c.Justification}
			}
		}
		return nil
	}
	if err := add(f.Default); err != nil {
		return nil, err
	}
	found := flavour == "" || flavour == "default"
	for _, o := range f.Overrides {
		if o.Name == flavour {
			found = true
			if err := add(o); err != nil {
				return nil, err
			}
		}
	}
	if !found {
		var names []string
		for _, o := range f.Overrides {
			names = append(names, o.Name)
		}
		return nil, fmt.Errorf("%s: no overrides for kernel %q (have %s)", file, flavour, strings.Join(names, ", "))
	}
	p := &Policy{Name: "azurelinux-3.0:" + flavour}
	for _, r := range rules {
		p.Rules = append(p.Rules, r)
	}
	sort.Slice(p.Rules, func(i, j int) bool {
		if p.Rules[i].Option != p.Rules[j].Option {
			return p.Rules[i].Option < p.Rules[j].Option
		}
		return p.Rules[i].Arches[0] < p.Rules[j].Arches[0]
	})
	return p, nil
}

// Finding statuses.
const (
	StatusPass     = "pass"
	StatusMismatch = "mismatch" // set, to another value
	StatusMissing  = "missing"  // required set (y/m/value) but absent or not set
)

// Finding is one rule checked against one config.
type Finding struct {
	Option string   `json:"option"`
	Want   []string `json:"want"`
	Got    string   `json:"got"` // "n" when absent or not set
	Status string   `json:"status"`
	Why    string   `json:"why,omitempty"`
}

// Check evaluates every rule that applies to arch, in option order.
func Check(c Config, p *Policy, arch string) []Finding {
	var out []Finding
	for _, r := range p.Rules {
		if len(r.Arches) > 0 && !contains(r.Arches, arch) {
			continue
		}
		got := c.Get(r.Option)
		f := Finding{Option: r.Option, Want: r.Allowed, Got: got, Why: r.Why}
		switch {
		case contains(r.Allowed, got):
			f.Status = StatusPass
		case got == "n":
			f.Status = StatusMissing
		default:
			f.Status = StatusMismatch
		}
		out = append(out, f)
	}
	return out
}

// Summary counts findings by status.
func Summary(fs []Finding) map[string]int {
	m := map[string]int{StatusPass: 0, StatusMismatch: 0, StatusMissing: 0}
	for _, f := range fs {
		m[f.Status]++
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
