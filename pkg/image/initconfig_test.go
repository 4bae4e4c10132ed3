package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bootHead = "name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\noutputs: [{format: raw}]\n"

func TestInitDefinitionErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"services: [{name: a}]\n", "t.yaml:6: services[0].exec: want an argv"},
		{"services: [{name: a, exec: [sbin/x]}]\n", "services[0].exec: want an argv whose first element is a clean absolute path"},
		{"services: [{name: A, exec: [/x]}]\n", "services[0].name: \"A\""},
		{"services: [{name: a, exec: [/x]}, {name: a, exec: [/y]}]\n", "services[1].name: \"a\" listed twice"},
		{"services: [{name: a, exec: [/x], type: forking}]\n", "services[0].type: \"forking\": want simple or oneshot"},
		{"services: [{name: a, exec: [/x], restart: sometimes}]\n", "services[0].restart"},
		{"services: [{name: a, exec: [/x], type: oneshot, restart: always}]\n", "a oneshot service runs once"},
		{"services: [{name: a, exec: [/x], after: [b]}]\n", "services[0].after[0]: \"b\": not another service"},
		{"services: [{name: a, exec: [/x], after: [b]}, {name: b, exec: [/x], after: [a]}]\n", "ordering cycle: a after b after a"},
		{"services: [{name: a, exec: [/x], health: {}}]\n", "services[0].health: want exactly one of tcp"},
		{"services: [{name: a, exec: [/x], health: {tcp: 70000}}]\n", "services[0].health.tcp"},
		{"services: [{name: a, exec: [/x], log: syslog}]\n", "services[0].log"},
		{"services: [{name: a, exec: [/x], env: [\"1X=y\"]}]\n", "services[0].env[0]"},
		{"services: [{name: a, exec: [/x], user: Root}]\n", "services[0].user"},
		{"services: [{name: a, exec: [/x], selinux_domain: sshd}]\n", "services[0].selinux_domain"},
		{"services: [{name: a, exec: [/x], bogus: 1}]\n", "bogus"},
		{"firewall: {input: reject}\n", "firewall.input: \"reject\": want drop or accept"},
		{"firewall: {input: drop, allow: [{tcp: 22, udp: 53}]}\n", "firewall.allow[0]: want exactly one"},
		{"firewall: {input: drop, allow: [{tcp: 65536}]}\n", "firewall.allow[0]: port out of range"},
		{"sysctl: {\"kernel kptr\": \"2\"}\n", "sysctl: \"kernel kptr\": want a dotted sysctl name"},
		{"sysctl: {kernel.modules_disabled: \"1\"}\n", "set modules_disabled: true instead"},
		{"sysctl: {kernel.kptr_restrict: \"\"}\n", "want a one-line value"},
		{"modules: [\"nf tables\"]\n", "modules[0]"},
	} {
		_, err := Parse("t.yaml", []byte(bootHead+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
	for _, ok := range []string{
		"services: [{name: keys, exec: [/x], type: oneshot}, {name: sshd, exec: [/y, -D], after: [keys], health: {tcp: 22}, user: root, log: console, selinux_domain: sshd_t}]\n",
		"firewall: {input: drop, allow: [{tcp: 22}, {udp: 53}]}\nsysctl: {kernel.kptr_restrict: \"2\"}\nmodules: [loop, dm-verity]\nmodules_disabled: true\n",
	} {
		if _, err := Parse("t.yaml", []byte(bootHead+ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestApplyInit writes init.json, the sysctl file and the resolv.conf link
// into a root, and refuses services whose program or user the root lacks.
func TestApplyInit(t *testing.T) {
	mk := func(t *testing.T) *os.Root {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755)
		os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
		os.WriteFile(filepath.Join(dir, "usr/bin/busybox"), []byte("#!"), 0o755)
		os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nweb:x:80:80::/:/bin/false\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\nweb:x:80:\n"), 0o644)
		r, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	d, err := Parse("t.yaml", []byte(bootHead+"services: [{name: web, exec: [/usr/bin/busybox, httpd, -f], user: web, group: web, health: {tcp: 80}}]\nfirewall: {input: drop, allow: [{tcp: 22}]}\nsysctl: {vm.swappiness: \"10\"}\nmodules: [loop]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := mk(t)
	if err := applyInit(d, r, owners{}); err != nil {
		t.Fatal(err)
	}
	b, err := r.ReadFile("etc/keel/init.json")
	if err != nil {
		t.Fatal(err)
	}
	var c InitConfig
	if err := json.Unmarshal(b, &c); err != nil || len(c.Services) != 1 || c.Firewall == nil ||
		strings.Join(c.Modules, ",") != "virtio_net,hv_netvsc,nf_tables,nft_ct,loop" {
		t.Fatalf("init.json %s: %+v %v", b, c, err)
	}
	if s, _ := r.ReadFile("etc/sysctl.d/90-image.conf"); !strings.Contains(string(s), "vm.swappiness = 10\n") {
		t.Errorf("sysctl file: %q", s)
	}
	if l, err := r.Readlink("etc/resolv.conf"); err != nil || l != "../run/keel/resolv.conf" {
		t.Errorf("resolv.conf link: %q %v", l, err)
	}
	if in := d.initInfo(); in.Sysctl["vm.swappiness"] != "10" || in.Sysctl["kernel.kptr_restrict"] != "2" || in.Services["web"] != "running" {
		t.Errorf("init info %+v", in)
	}
	for _, tc := range []struct{ svc, want string }{
		{"{name: a, exec: [/usr/bin/missing]}", "services[0] (a): /usr/bin/missing is not an executable file in the image"},
		{"{name: a, exec: [/usr/bin/busybox], user: nobody}", "user \"nobody\" is not in the image's /etc/passwd"},
		{"{name: a, exec: [/usr/bin/busybox], group: staff}", "group \"staff\" is not in the image's /etc/group"},
		{"{name: a, exec: [/usr/bin/busybox], health: {exec: [/usr/bin/check]}}", "/usr/bin/check is not an executable"},
	} {
		d, err := Parse("t.yaml", []byte(bootHead+"services: ["+tc.svc+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := applyInit(d, mk(t), owners{}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "t.yaml") {
			t.Errorf("%s: err = %v, want %q", tc.svc, err, tc.want)
		}
	}
}

func TestFirewallRuleset(t *testing.T) {
	got := FirewallRuleset(&Firewall{Input: "drop", Allow: []FirewallRule{{TCP: 22}, {UDP: 53}}})
	want := `table inet keel; chain input { type filter hook input priority filter; policy drop; ct state established,related accept; iifname "lo" accept; meta l4proto ipv6-icmp accept; tcp dport 22 accept; udp dport 53 accept; counter drop }`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
