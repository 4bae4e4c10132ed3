package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn0kkhVQ3M8l3nHVYgDJW0nD8b3O9bbUKx0r8PZ7Fwq op@laptop"

func notes(c *Config) map[string]string {
	m := map[string]string{}
	for _, n := range c.Notes {
		m[n.Key] = n.Value
	}
	return m
}

func TestParseNoCloud(t *testing.T) {
	for _, tc := range []struct {
		name, meta, user string
		err              string
		check            func(t *testing.T, c *Config)
	}{
		{name: "no instance-id", meta: "local-hostname: a\n", err: "no instance-id"},
		{name: "meta-data not YAML", meta: "instance-id: [\n", err: "meta-data: not valid YAML"},
		{name: "meta-data a list", meta: "- a\n", err: "want a mapping"},
		{name: "full", meta: "instance-id: iid-1\nlocal-hostname: from-meta\n", user: `#cloud-config
hostname: web-1
ssh_pwauth: false
users:
  - default
  - name: op
    gecos: Operator
    ssh_authorized_keys: ["` + testKey + `"]
    sudo: ALL=(ALL) NOPASSWD:ALL
    lock_passwd: true
  - name: auditor
    ssh_authorized_keys: ["` + testKey + `"]
    sudo: ["ALL=(ALL) ALL"]
    passwd: $6$secret
write_files:
  - path: /etc/motd
    content: hello
    permissions: '0640'
  - path: /etc/b64
    encoding: b64
    content: aGk=
runcmd:
  - echo hi
  - [touch, /run/x]
package_update: true
packages: [vim]
`, check: func(t *testing.T, c *Config) {
			if c.InstanceID != "iid-1" || c.Hostname != "web-1" {
				t.Errorf("instance %q hostname %q", c.InstanceID, c.Hostname)
			}
			if len(c.Users) != 2 || !c.Users[0].Doas || c.Users[1].Doas || c.Users[0].Gecos != "Operator" || len(c.Users[0].Keys) != 1 {
				t.Errorf("users %+v", c.Users)
			}
			if len(c.WriteFiles) != 2 || c.WriteFiles[0].Mode != 0o640 || string(c.WriteFiles[1].Content) != "hi" {
				t.Errorf("write_files %+v", c.WriteFiles)
			}
			if len(c.RunCmd) != 2 || c.RunCmd[0].Shell != "echo hi" || len(c.RunCmd[1].Argv) != 2 {
				t.Errorf("runcmd %+v", c.RunCmd)
			}
			n := notes(c)
			for k, want := range map[string]string{
				"user-data.unsupported":     "package_update packages: not applied",
				"user-data.users[0]":        "no default user",
				"user-data.users[2].sudo":   "no doas equivalent",
				"user-data.users[2].passwd": "not reported",
			} {
				if !strings.Contains(n[k], want) {
					t.Errorf("note %s = %q, want %q (all: %v)", k, n[k], want, n)
				}
			}
			for _, v := range n {
				if strings.Contains(v, "secret") {
					t.Errorf("a note reports the password: %q", v)
				}
			}
		}},
		{name: "script", meta: "instance-id: i\n", user: "#!/bin/sh\nrm -rf /\n", check: func(t *testing.T, c *Config) {
			if len(c.RunCmd) != 0 || !strings.Contains(notes(c)["user-data"], "script") {
				t.Errorf("%+v", c)
			}
		}},
		{name: "bad YAML user-data still provisions meta-data", meta: "instance-id: i\nlocal-hostname: h\n", user: "#cloud-config\nusers: [\n", check: func(t *testing.T, c *Config) {
			if c.Hostname != "h" || !strings.Contains(notes(c)["user-data"], "not valid YAML") {
				t.Errorf("%+v", c)
			}
		}},
		{name: "refusals", meta: "instance-id: i\n", user: "#cloud-config\nssh_pwauth: true\ndisable_root: false\nhostname: 'bad host'\nusers:\n  - name: Root!\n  - name: ok\n    lock_passwd: false\n", check: func(t *testing.T, c *Config) {
			n := notes(c)
			for _, k := range []string{"user-data.ssh_pwauth", "user-data.disable_root", "user-data.hostname", "user-data.users[0].name", "user-data.users[1].lock_passwd"} {
				if n[k] == "" {
					t.Errorf("no note %s: %v", k, n)
				}
			}
			if c.Hostname != "" || len(c.Users) != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "write_files refusals", meta: "instance-id: i\n", user: "#cloud-config\nwrite_files:\n  - path: relative\n  - path: /proc/sys/x\n  - path: /a/../etc/shadow\n  - path: /x\n    encoding: gzip\n  - path: /y\n    permissions: '9'\n  - path: /z\n    permissions: '4755'\n", check: func(t *testing.T, c *Config) {
			if len(c.WriteFiles) != 1 || c.WriteFiles[0].Path != "/z" || c.WriteFiles[0].Mode != 0o755 {
				t.Errorf("%+v", c.WriteFiles)
			}
			if len(c.Notes) != 6 {
				t.Errorf("notes %v", c.Notes)
			}
		}},
		{name: "aliases refused", meta: "instance-id: i\n", user: "#cloud-config\nx: &a [1]\nusers: *a\n", check: func(t *testing.T, c *Config) {
			if !strings.Contains(notes(c)["user-data"], "aliases") {
				t.Errorf("%v", c.Notes)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseNoCloud([]byte(tc.meta), []byte(tc.user))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

const testOVF = `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
  <wa:ProvisioningSection>
    <wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>az-vm</HostName>
      <UserName>azureuser</UserName>
      <UserPassword>hunter2</UserPassword>
      <DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication>
      <SSH><PublicKeys>
        <PublicKey><Fingerprint>EB0C</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path><Value>` + testKey + `</Value></PublicKey>
        <PublicKey><Fingerprint>AB12</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path></PublicKey>
      </PublicKeys></SSH>
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
</Environment>`

func TestParseOVFEnv(t *testing.T) {
	c, err := ParseOVFEnv([]byte(testOVF), "uuid-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "az-vm" || len(c.Users) != 1 || c.Users[0].Name != "azureuser" || !c.Users[0].Doas || len(c.Users[0].Keys) != 1 || c.InstanceID != "uuid-1" {
		t.Errorf("%+v", c)
	}
	n := notes(c)
	if !strings.Contains(n["ovf-env.UserPassword"], "refused") || !strings.Contains(n["ovf-env.SSH.PublicKeys[1]"], "fingerprint") {
		t.Errorf("notes %v", n)
	}
	for _, v := range n {
		if strings.Contains(v, "hunter2") {
			t.Errorf("a note reports the password")
		}
	}
	for _, bad := range []string{"", "<Environment>", "<x/>", strings.Replace(testOVF, "LinuxProvisioningConfigurationSet", "Other", 2)} {
		if _, err := ParseOVFEnv([]byte(bad), "u"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

const testGoalState = `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Version>2012-11-30</Version><Incarnation>3</Incarnation>
  <Machine><ExpectedState>Started</ExpectedState></Machine>
  <Container><ContainerId>c-42</ContainerId>
    <RoleInstanceList><RoleInstance><InstanceId>role-7</InstanceId><State>Started</State></RoleInstance></RoleInstanceList>
  </Container>
</GoalState>`

// TestReportReady runs the exchange against a fake WireServer: the goal
// state is fetched, and the health report names its incarnation,
// container and instance with state Ready.
func TestReportReady(t *testing.T) {
	var health []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-ms-version") != "2012-11-30" {
			http.Error(w, "version", 400)
			return
		}
		switch r.URL.Query().Get("comp") {
		case "goalstate":
			io.WriteString(w, testGoalState)
		case "health":
			health, _ = io.ReadAll(r.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	gs, err := ReportReady(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if gs != (GoalState{"3", "c-42", "role-7"}) {
		t.Errorf("%+v", gs)
	}
	for _, want := range []string{"<GoalStateIncarnation>3<", "<ContainerId>c-42<", "<InstanceId>role-7<", "<State>Ready</State>"} {
		if !bytes.Contains(health, []byte(want)) {
			t.Errorf("health report lacks %s:\n%s", want, health)
		}
	}
}

func TestApply(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin/sh"), nil, 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nsshd:x:74:74::/:/usr/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	c, err := ParseNoCloud([]byte("instance-id: i\n"), []byte("#cloud-config\nhostname: h1\nusers:\n  - name: op\n    ssh_authorized_keys: ['"+testKey+"', 'bogus key']\n    sudo: ALL=(ALL) NOPASSWD:ALL\n  - name: sshd\n    ssh_authorized_keys: ['"+testKey+"']\n  - name: nokey\nwrite_files:\n  - path: /etc/motd\n    content: hi\n    owner: op:op\n  - path: /etc/x\n    owner: ghost\n"))
	if err != nil {
		t.Fatal(err)
	}
	facts := map[string]string{}
	a := &Applier{Root: root, Fact: func(k, v string) { facts[k] = v },
		CheckKey: func(l string) error {
			if strings.HasPrefix(l, "bogus") {
				return io.ErrUnexpectedEOF
			}
			return nil
		}}
	a.Apply(context.Background(), c)
	for k, want := range map[string]string{
		"hostname":       "h1",
		"user.op":        "uid=1000 keys=1 doas=nopass",
		"user.op.key[1]": "rejected",
		"user.sshd":      "system account",
		"user.nokey":     "no usable SSH key",
		"write_files[0]": "/etc/motd",
		"write_files[1]": "no such user",
	} {
		if !strings.Contains(facts[k], want) {
			t.Errorf("fact %s = %q, want %q", k, facts[k], want)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), "\nop:*:1000:1000::/home/op:/bin/sh\n") || strings.Count(string(passwd), "sshd") != 1 {
		t.Errorf("passwd:\n%s", passwd)
	}
	doas, _ := os.ReadFile(filepath.Join(root, "etc/doas.conf"))
	if string(doas) != "permit nopass op as root\n" {
		t.Errorf("doas.conf: %q", doas)
	}
	ak, _ := os.ReadFile(filepath.Join(root, "home/op/.ssh/authorized_keys"))
	if string(ak) != testKey+"\n" {
		t.Errorf("authorized_keys: %q", ak)
	}
	// Applying again (a new instance on the same disk) adds nothing twice.
	a.Apply(context.Background(), c)
	doas2, _ := os.ReadFile(filepath.Join(root, "etc/doas.conf"))
	passwd2, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !bytes.Equal(doas, doas2) || !bytes.Equal(passwd, passwd2) {
		t.Errorf("second apply changed files:\n%s\n%s", doas2, passwd2)
	}
}

func TestProbe(t *testing.T) {
	iso := make([]byte, 32768+2048)
	copy(iso[32768:], "\x01CD001")
	copy(iso[32768+40:], "cidata                          ")
	fat := make([]byte, 512)
	copy(fat[43:], "CIDATA     FAT12   ")
	fat[510], fat[511] = 0x55, 0xaa
	for _, tc := range []struct {
		img           []byte
		fstype, label string
	}{
		{iso, "iso9660", "cidata"}, {fat, "vfat", "CIDATA"}, {make([]byte, 4096), "", ""}, {nil, "", ""},
	} {
		fs, l := probe(bytes.NewReader(tc.img))
		if fs != tc.fstype || l != tc.label {
			t.Errorf("probe = %q %q, want %q %q", fs, l, tc.fstype, tc.label)
		}
	}
}

func FuzzParseNoCloud(f *testing.F) {
	f.Add([]byte("instance-id: i\nlocal-hostname: h\n"), []byte("#cloud-config\nusers:\n  - name: op\n    ssh_authorized_keys: [x]\n    sudo: ALL=(ALL) NOPASSWD:ALL\nwrite_files:\n  - path: /a\n    content: aGk=\n    encoding: b64\nruncmd: [[a, b], c]\n"))
	f.Add([]byte("instance-id: [\n"), []byte("#!/bin/sh\n"))
	f.Add([]byte("{instance-id: i}"), []byte("#cloud-config\na: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, meta, user []byte) {
		c, err := ParseNoCloud(meta, user)
		if err != nil {
			return
		}
		for _, u := range c.Users {
			if !userName.MatchString(u.Name) {
				t.Fatalf("invalid user name accepted: %q", u.Name)
			}
			for _, k := range u.Keys {
				if strings.ContainsAny(k, "\n\r\x00") {
					t.Fatalf("multi-line key accepted: %q", k)
				}
			}
		}
		for _, w := range c.WriteFiles {
			if badPath(w.Path) != "" {
				t.Fatalf("bad path accepted: %q", w.Path)
			}
		}
		if c.Hostname != "" && !validHostname(c.Hostname) {
			t.Fatalf("bad hostname accepted: %q", c.Hostname)
		}
	})
}

func FuzzParseOVFEnv(f *testing.F) {
	f.Add([]byte(testOVF))
	f.Add([]byte("<Environment><ProvisioningSection><LinuxProvisioningConfigurationSet><UserName>a</UserName></LinuxProvisioningConfigurationSet></ProvisioningSection></Environment>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseOVFEnv(b, "id")
		if err != nil {
			return
		}
		for _, u := range c.Users {
			if !userName.MatchString(u.Name) {
				t.Fatalf("invalid user name accepted: %q", u.Name)
			}
		}
	})
}

func FuzzParseGoalState(f *testing.F) {
	f.Add([]byte(testGoalState))
	f.Add([]byte("<GoalState><Incarnation>1</Incarnation></GoalState>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gs, err := ParseGoalState(b)
		if err != nil {
			return
		}
		if bytes.ContainsAny(healthReport(gs), "\x00") {
			t.Fatal("NUL in the health report")
		}
	})
}
