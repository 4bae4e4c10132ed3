package image

// What keel-init does at boot besides mounting the root (issue #23):
// kernel modules, sysctl, the firewall and supervised services. The
// definition's keys are validated here, checked against the composed root
// (a service's program and user must exist) and written for keel-init as
// /etc/keel/init.json; sysctl goes to /etc/sysctl.d/90-image.conf, where
// the baseline check reads it with the package defaults.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/keel-linux/keel/pkg/baseline"
	"github.com/keel-linux/keel/pkg/boot"
)

// InitConfigPath is keel-init's configuration in the image.
const InitConfigPath = "/etc/keel/init.json"

// SysctlPath holds the definition's sysctl values (sysctl.d(5)).
const SysctlPath = "/etc/sysctl.d/90-image.conf"

// Service is one program keel-init starts and supervises.
type Service struct {
	Name string `yaml:"name" json:"name"`
	// Exec is the argv; Exec[0] an absolute path in the image.
	Exec  []string `yaml:"exec" json:"exec"`
	User  string   `yaml:"user,omitempty" json:"user,omitempty"`   // default root
	Group string   `yaml:"group,omitempty" json:"group,omitempty"` // default the user's primary group
	// Type: simple (the default: runs until stopped, restarted) or oneshot
	// (runs to completion once before services that come after it).
	Type  string   `yaml:"type,omitempty" json:"type,omitempty"`
	After []string `yaml:"after,omitempty" json:"after,omitempty"`
	// Restart: always (simple's default), on-failure or never (oneshot's
	// only choice). Restarts back off from 1 s to 30 s.
	Restart string         `yaml:"restart,omitempty" json:"restart,omitempty"`
	Health  *ServiceHealth `yaml:"health,omitempty" json:"health,omitempty"`
	// Log: file (the default: /var/log/NAME.log, the last 1 MiB kept) or
	// console (prefixed lines on the serial console).
	Log string   `yaml:"log,omitempty" json:"log,omitempty"`
	Env []string `yaml:"env,omitempty" json:"env,omitempty"` // KEY=VALUE
	// SELinuxDomain is the domain (type, e.g. sshd_t) the service runs in
	// when SELinux is enabled: system_u:system_r:DOMAIN:s0.
	SELinuxDomain string `yaml:"selinux_domain,omitempty" json:"selinux_domain,omitempty"`
}

// ServiceHealth says when a service counts as healthy: a TCP port on
// loopback accepts connections, or a command exits 0.
type ServiceHealth struct {
	TCP  int      `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	Exec []string `yaml:"exec,omitempty" json:"exec,omitempty"`
}

// Firewall is the inet (IPv4 and IPv6) input filter keel-init loads
// through netlink before any service starts. Established and related
// traffic, loopback and ICMPv6 (neighbour discovery) always pass; what
// input: drop refuses is counted.
type Firewall struct {
	Input string         `yaml:"input" json:"input"` // drop | accept
	Allow []FirewallRule `yaml:"allow,omitempty" json:"allow,omitempty"`
}

// FirewallRule opens one destination port.
type FirewallRule struct {
	TCP int `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	UDP int `yaml:"udp,omitempty" json:"udp,omitempty"`
}

// InitConfig is /etc/keel/init.json.
type InitConfig struct {
	Modules         []string  `json:"modules,omitempty"`
	ModulesDisabled bool      `json:"modules_disabled,omitempty"`
	Firewall        *Firewall `json:"firewall,omitempty"`
	Services        []Service `json:"services,omitempty"`
}

var (
	serviceName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`) })
	sysctlKey   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$`) })
	moduleName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,56}$`) })
	envEntry    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[^\n\x00]*$`) })
	seType      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_]+_t$`) })
)

// validateInit checks services, sysctl, firewall and modules.
func (d *Definition) validateInit() error {
	if d.Kind != "bootable" {
		for _, k := range []struct {
			key string
			set bool
		}{{"services", len(d.Services) > 0}, {"firewall", d.Firewall != nil}, {"modules", len(d.Modules) > 0},
			{"modules_disabled", d.ModulesDisabled}, {"sysctl", len(d.Sysctl) > 0}} {
			if k.set {
				return ferr(k.key, "only a bootable image runs keel-init (a container's host sets this)")
			}
		}
	}
	for k, v := range d.Sysctl {
		if !sysctlKey().MatchString(k) {
			return ferr("sysctl", "%q: want a dotted sysctl name like kernel.kptr_restrict", k)
		}
		if v == "" || strings.ContainsAny(v, "\n\r\x00") {
			return ferr("sysctl", "%s: %q: want a one-line value", k, v)
		}
		if k == "kernel.modules_disabled" {
			return ferr("sysctl", "kernel.modules_disabled: set modules_disabled: true instead (keel-init sets it after loading modules:)")
		}
	}
	for i, m := range d.Modules {
		if !moduleName().MatchString(m) {
			return ferr(fmt.Sprintf("modules[%d]", i), "%q: want a kernel module name like virtio_net", m)
		}
	}
	if fw := d.Firewall; fw != nil {
		if fw.Input != "drop" && fw.Input != "accept" {
			return ferr("firewall.input", "%q: want drop or accept", fw.Input)
		}
		for i, r := range fw.Allow {
			f := fmt.Sprintf("firewall.allow[%d]", i)
			if (r.TCP == 0) == (r.UDP == 0) {
				return ferr(f, "want exactly one of tcp: PORT or udp: PORT")
			}
			if r.TCP < 0 || r.TCP > 65535 || r.UDP < 0 || r.UDP > 65535 {
				return ferr(f, "port out of range 1-65535")
			}
		}
	}
	names := map[string]int{}
	for i, s := range d.Services {
		f := fmt.Sprintf("services[%d]", i)
		if !serviceName().MatchString(s.Name) {
			return ferr(f+".name", "%q: want lower-case letters, digits, '_' or '-' (at most 64)", s.Name)
		}
		if _, dup := names[s.Name]; dup {
			return ferr(f+".name", "%q listed twice", s.Name)
		}
		names[s.Name] = i
		if len(s.Exec) == 0 || !path.IsAbs(s.Exec[0]) || path.Clean(s.Exec[0]) != s.Exec[0] {
			return ferr(f+".exec", "want an argv whose first element is a clean absolute path")
		}
		for _, a := range s.Exec {
			if strings.ContainsRune(a, 0) {
				return ferr(f+".exec", "NUL in an argument")
			}
		}
		if s.User != "" && !accountName().MatchString(s.User) {
			return ferr(f+".user", "%q: want a user name", s.User)
		}
		if s.Group != "" && !accountName().MatchString(s.Group) {
			return ferr(f+".group", "%q: want a group name", s.Group)
		}
		switch s.Type {
		case "", "simple":
			switch s.Restart {
			case "", "always", "on-failure", "never":
			default:
				return ferr(f+".restart", "%q: want always, on-failure or never", s.Restart)
			}
		case "oneshot":
			if s.Restart != "" && s.Restart != "never" {
				return ferr(f+".restart", "%q: a oneshot service runs once (restart: never)", s.Restart)
			}
			if s.Health != nil {
				return ferr(f+".health", "a oneshot service is healthy when it exits 0")
			}
		default:
			return ferr(f+".type", "%q: want simple or oneshot", s.Type)
		}
		if h := s.Health; h != nil {
			if (h.TCP == 0) == (len(h.Exec) == 0) {
				return ferr(f+".health", "want exactly one of tcp: PORT or exec: [argv]")
			}
			if h.TCP < 0 || h.TCP > 65535 {
				return ferr(f+".health.tcp", "%d: want a port 1-65535", h.TCP)
			}
			if len(h.Exec) > 0 && !path.IsAbs(h.Exec[0]) {
				return ferr(f+".health.exec", "want an argv whose first element is an absolute path")
			}
		}
		switch s.Log {
		case "", "file", "console":
		default:
			return ferr(f+".log", "%q: want file or console", s.Log)
		}
		for j, e := range s.Env {
			if !envEntry().MatchString(e) {
				return ferr(fmt.Sprintf("%s.env[%d]", f, j), "%q: want KEY=VALUE on one line", e)
			}
		}
		if s.SELinuxDomain != "" && !seType().MatchString(s.SELinuxDomain) {
			return ferr(f+".selinux_domain", "%q: want an SELinux type like sshd_t", s.SELinuxDomain)
		}
	}
	// after: names a service; ordering has no cycle.
	for i, s := range d.Services {
		for j, a := range s.After {
			if _, ok := names[a]; !ok || a == s.Name {
				return ferr(fmt.Sprintf("services[%d].after[%d]", i, j), "%q: not another service of this image (have %s)", a, strings.Join(slices.Sorted(maps.Keys(names)), ", "))
			}
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, trail []string) error
	visit = func(n string, trail []string) error {
		switch state[n] {
		case 1:
			return ferr(fmt.Sprintf("services[%d].after", names[n]), "ordering cycle: %s", strings.Join(append(trail, n), " after "))
		case 2:
			return nil
		}
		state[n] = 1
		for _, a := range d.Services[names[n]].After {
			if err := visit(a, append(trail, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	for _, s := range d.Services {
		if err := visit(s.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// netModules are the NIC drivers keel-init loads when present in the
// kernel: virtio-net (QEMU, most clouds) and Hyper-V's netvsc (Azure).
var netModules = []string{"virtio_net", "hv_netvsc"}

// firewallModules are what the ruleset uses: nf_tables and conntrack
// (ct state established,related).
var firewallModules = []string{"nf_tables", "nft_ct"}

// initConfig is what keel-init gets: the modules the features need first,
// then the definition's, in order, without repeats.
func (d *Definition) initConfig() InitConfig {
	c := InitConfig{ModulesDisabled: d.ModulesDisabled, Firewall: d.Firewall, Services: d.Services}
	mods := slices.Clone(netModules)
	if d.Firewall != nil {
		mods = append(mods, firewallModules...)
	}
	for _, m := range append(mods, d.Modules...) {
		if !slices.Contains(c.Modules, m) {
			c.Modules = append(c.Modules, m)
		}
	}
	return c
}

// EffectiveSysctl is what the booted image must read back from /proc/sys:
// Keel's baseline defaults (keel-release's 50-keel.conf) overridden by the
// definition's sysctl:.
func (d *Definition) EffectiveSysctl() map[string]string {
	out := baseline.DefaultPolicy().Sysctl
	maps.Copy(out, d.Sysctl)
	return out
}

// applyInit checks the services against the composed root and writes
// init.json and the sysctl file. Bootable images only.
func applyInit(d *Definition, r *os.Root, own owners) error {
	if d.Kind != "bootable" {
		return nil
	}
	users, groups := accountsIn(r, "etc/passwd"), accountsIn(r, "etc/group")
	for i, s := range d.Services {
		f := fmt.Sprintf("%s: services[%d] (%s)", d.path, i, s.Name)
		progs := [][]string{s.Exec}
		if s.Health != nil && len(s.Health.Exec) > 0 {
			progs = append(progs, s.Health.Exec)
		}
		for _, argv := range progs {
			st, err := r.Stat(strings.TrimPrefix(argv[0], "/"))
			if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
				return fmt.Errorf("%s: %s is not an executable file in the image (is its package listed?)", f, argv[0])
			}
		}
		if s.User != "" && !users[s.User] {
			return fmt.Errorf("%s: user %q is not in the image's /etc/passwd (add it under users:)", f, s.User)
		}
		if s.Group != "" && !groups[s.Group] {
			return fmt.Errorf("%s: group %q is not in the image's /etc/group (add it under groups:)", f, s.Group)
		}
	}
	data, err := json.MarshalIndent(d.initConfig(), "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileIn(r, own, File{Path: InitConfigPath, Content: string(data) + "\n"}); err != nil {
		return err
	}
	// keel-init writes the DHCP lease's DNS servers under /run, which a
	// read-only root can take; a definition's own files: entry wins.
	if _, err := r.Lstat("etc/resolv.conf"); errors.Is(err, fs.ErrNotExist) {
		if err := r.Symlink("../run/keel/resolv.conf", "etc/resolv.conf"); err != nil {
			return err
		}
	}
	if len(d.Sysctl) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("# From the image definition's sysctl: (keel image build); keel-init applies it at boot.\n")
	for _, k := range slices.Sorted(maps.Keys(d.Sysctl)) {
		fmt.Fprintf(&b, "%s = %s\n", k, d.Sysctl[k])
	}
	return writeFileIn(r, own, File{Path: SysctlPath, Content: b.String()})
}

// accountsIn lists the names of an /etc/passwd or /etc/group in the root.
func accountsIn(r *os.Root, file string) map[string]bool {
	out := map[string]bool{}
	data, err := fs.ReadFile(r.FS(), file)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if n, _, ok := strings.Cut(sc.Text(), ":"); ok && n != "" {
			out[n] = true
		}
	}
	return out
}

// InitInfo is what a bootable image's keel-init must report: the sysctl
// values read back from /proc/sys, each service's state, the firewall.
type InitInfo struct {
	Sysctl          map[string]string `json:"sysctl"`
	Services        map[string]string `json:"services,omitempty"` // name -> the state it must reach: running | done
	Firewall        *Firewall         `json:"firewall,omitempty"`
	ModulesDisabled bool              `json:"modules_disabled,omitempty"`
}

func (d *Definition) initInfo() *InitInfo {
	if d.Kind != "bootable" {
		return nil
	}
	in := &InitInfo{Sysctl: d.EffectiveSysctl(), Firewall: d.Firewall, ModulesDisabled: d.ModulesDisabled}
	for _, s := range d.Services {
		if in.Services == nil {
			in.Services = map[string]string{}
		}
		in.Services[s.Name] = map[bool]string{true: "done", false: "running"}[s.Type == "oneshot"]
	}
	return in
}

// FirewallRuleset is the ruleset text keel-init reports (fact
// firewall.ruleset) for fw, as nft would list its rules in one line.
func FirewallRuleset(fw *Firewall) string {
	r := []string{"table inet keel", "chain input { type filter hook input priority filter; policy " + fw.Input,
		"ct state established,related accept", `iifname "lo" accept`, "meta l4proto ipv6-icmp accept"}
	for _, a := range fw.Allow {
		if a.TCP != 0 {
			r = append(r, fmt.Sprintf("tcp dport %d accept", a.TCP))
		} else {
			r = append(r, fmt.Sprintf("udp dport %d accept", a.UDP))
		}
	}
	if fw.Input == "drop" {
		r = append(r, "counter drop")
	}
	return strings.Join(r, "; ") + " }"
}

// expect turns the info into boot expectations (nil info: none).
func (in *InitInfo) expect() []boot.Expectation {
	if in == nil {
		return nil
	}
	var ex []string
	for _, k := range slices.Sorted(maps.Keys(in.Sysctl)) {
		ex = append(ex, "sysctl."+k+"="+in.Sysctl[k])
	}
	for _, n := range slices.Sorted(maps.Keys(in.Services)) {
		ex = append(ex, "service."+n+".state="+in.Services[n])
	}
	if in.Firewall != nil {
		ex = append(ex, "firewall.ruleset="+FirewallRuleset(in.Firewall), "firewall.error=none")
	}
	if in.ModulesDisabled {
		ex = append(ex, "sysctl.kernel.modules_disabled=1")
	}
	return boot.MustExpect(ex...)
}
