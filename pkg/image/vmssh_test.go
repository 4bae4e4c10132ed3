package image

// The vm image as a cloud user meets it: provisioned at first boot from a
// NoCloud seed made by cloud-localds, logged into with the real OpenSSH
// client through a 127.0.0.1 forward; a second instance of the same image
// provisioned from Azure's ovf-env.xml, reporting Ready to a fake
// WireServer the guest reaches through guestfwd at Azure's own address.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/boot"
)

// sshClient is the host's OpenSSH client against one forwarded guest.
type sshClient struct {
	port       int
	knownHosts string
}

func (c sshClient) run(ctx context.Context, key, user string, extra []string, command string) (string, string, error) {
	args := []string{"-p", fmt.Sprint(c.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
		"-o", "UserKnownHostsFile=" + c.knownHosts, "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "-F", "none"}
	if key != "" {
		args = append(args, "-i", key, "-o", "IdentitiesOnly=yes")
	}
	args = append(append(args, extra...), user+"@127.0.0.1", command)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func sshKeygen(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	priv = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	b, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(b))
}

// hostKeyFingerprint is what ssh-keyscan sees at the forward.
func hostKeyFingerprint(ctx context.Context, port int) (string, error) {
	out, err := exec.CommandContext(ctx, "ssh-keyscan", "-T", "20", "-t", "ed25519", "-p", fmt.Sprint(port), "127.0.0.1").Output()
	if err != nil {
		return "", fmt.Errorf("ssh-keyscan: %v", err)
	}
	cmd := exec.CommandContext(ctx, "ssh-keygen", "-l", "-f", "-")
	cmd.Stdin = bytes.NewReader(out)
	fp, err := cmd.Output()
	if f := strings.Fields(string(fp)); err == nil && len(f) >= 2 {
		return f[1], nil
	}
	return "", fmt.Errorf("ssh-keygen -l of %q: %v", out, err)
}

// vmLogin prepares the vm image's boot: a writable overlay (a second boot
// of the same disk must not re-provision), a NoCloud seed for user "op"
// with a fresh key (and the same key for root, whose login must still be
// refused), the network with sshd forwarded, and the login checks run
// while the guest is up. It returns the overlay and the facts seen.
func vmLogin(t *testing.T, o *boot.Options) (overlay string) {
	t.Helper()
	testenv.RequireTool(t, "ssh", "ssh-keygen", "ssh-keyscan", "cloud-localds", "qemu-img")
	dir := t.TempDir()
	overlay = filepath.Join(dir, "vm-overlay.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", o.Disk, "-F", "qcow2", overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	o.Disk, o.Writable = overlay, true
	key, pub := sshKeygen(t, dir, "op")
	wrongKey, _ := sshKeygen(t, dir, "stranger")
	seedDir := filepath.Join(dir, "seed")
	os.MkdirAll(seedDir, 0o700)
	os.WriteFile(filepath.Join(seedDir, "meta-data"), []byte("instance-id: iid-keel-ssh-1\nlocal-hostname: keel-meta\n"), 0o644)
	userData := fmt.Sprintf(`#cloud-config
hostname: keel-ssh-1
ssh_pwauth: false
users:
  - name: op
    gecos: Keel operator
    ssh_authorized_keys:
      - %s
      - ssh-ed25519 AAAAnot-a-key broken@key
    sudo: ALL=(ALL) NOPASSWD:ALL
write_files:
  - path: /etc/keel-motd
    content: "provisioned by NoCloud\n"
    owner: op:op
    permissions: '0640'
  - path: /root/.ssh/authorized_keys
    content: %s
    permissions: '0600'
runcmd:
  - [sh, -c, "echo runcmd-ran > /run/keel-runcmd"]
packages: [vim]
`, pub, pub)
	os.WriteFile(filepath.Join(seedDir, "user-data"), []byte(userData), 0o644)
	seed, err := boot.Seed(context.Background(), seedDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	o.Seeds = append(o.Seeds, seed)
	port, err := boot.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o.Net = &boot.Network{Forwards: []boot.Forward{{Host: port, Guest: 22}}}
	c := sshClient{port: port, knownHosts: filepath.Join(dir, "known_hosts")}
	o.OnReady = func(ctx context.Context, f map[string]string) error {
		ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
		if _, err := boot.WaitSSH(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return err
		}
		return sshChecks(ctx, c, key, wrongKey, f)
	}
	return overlay
}

// vmSecondBoots: a second instance of the image (Azure); and, in the long
// suite, the first instance's disk booted again, which must not be
// provisioned again and keeps its host key.
func vmSecondBoots(t *testing.T, image, overlay string, first boot.Options, firstFacts map[string]string) {
	base := first
	base.Seeds, base.Net, base.OnReady = nil, nil, nil
	t.Run("azure", func(t *testing.T) { azureBoot(t, image, base, firstFacts["provision.hostkey.ed25519"]) })
	t.Run("second-boot", func(t *testing.T) {
		testenv.Long(t, "a third vm boot (about a minute under TCG)")
		o := first
		o.Disk, o.Writable, o.OnReady, o.Net = overlay, true, nil, nil
		r, err := boot.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			t.Fatalf("second boot: %s\nconsole:\n%s", r.Reason, r.Console)
		}
		if r.Facts["provision.state"] != "already provisioned" || r.Facts["provision.user.op"] != "" ||
			r.Facts["provision.hostkey.ed25519"] != firstFacts["provision.hostkey.ed25519"] || r.Facts["hostname"] != "keel-ssh-1" {
			t.Errorf("second boot of one instance: state %q, user fact %q, host key %q (first %q), hostname %q",
				r.Facts["provision.state"], r.Facts["provision.user.op"], r.Facts["provision.hostkey.ed25519"],
				firstFacts["provision.hostkey.ed25519"], r.Facts["hostname"])
		}
	})
}

// sshChecks: the provisioned user logs in with its key and acts as root
// through doas; a wrong key, a password and root are refused; the host key
// sshd presents is the one keel-provision reported.
func sshChecks(ctx context.Context, c sshClient, key, wrongKey string, facts map[string]string) error {
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	out, stderr, err := c.run(ctx, key, "op", nil, "id -un; hostname; cat /etc/keel-motd; cat /run/keel-runcmd; doas id -u; doas cat /etc/doas.conf; doas /usr/sbin/sshd -T")
	if err != nil {
		fail("login as op with its key: %v: %s", err, stderr)
	} else {
		lines := strings.Split(out, "\n")
		if len(lines) < 6 || lines[0] != "op" || lines[1] != "keel-ssh-1" || lines[2] != "provisioned by NoCloud" || lines[3] != "runcmd-ran" || lines[4] != "0" {
			fail("commands as op: %q", out)
		}
		if !strings.Contains(out, "permit nopass op as root") {
			fail("doas could not read the root-only doas.conf: %q", out)
		}
		for _, want := range []string{"permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no", "pubkeyauthentication yes"} {
			if !strings.Contains(out, "\n"+want+"\n") {
				fail("sshd -T lacks %q", want)
			}
		}
	}
	refused := func(what, key, user string, extra ...string) {
		out, stderr, err := c.run(ctx, key, user, extra, "id")
		if err == nil {
			fail("%s: logged in: %q", what, out)
		} else if !strings.Contains(stderr, "Permission denied (publickey)") {
			fail("%s: want sshd to offer only publickey, got: %s", what, stderr)
		}
	}
	refused("a wrong key", wrongKey, "op")
	refused("root with a key in its authorized_keys", key, "root")
	refused("a password", "", "op", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive")
	fp, err := hostKeyFingerprint(ctx, c.port)
	if err != nil {
		fail("%v", err)
	} else if fp != facts["provision.hostkey.ed25519"] {
		fail("sshd's host key %s is not the one keel-provision reported (%s)", fp, facts["provision.hostkey.ed25519"])
	}
	if len(errs) > 0 {
		return fmt.Errorf("SSH checks: %s", strings.Join(errs, "; "))
	}
	return nil
}

// checkNoCloudFacts: what keel-provision reported for the NoCloud seed.
func checkNoCloudFacts(t *testing.T, f map[string]string) {
	t.Helper()
	for k, want := range map[string]string{
		"provision.source":                     "nocloud",
		"provision.instance_id":                "iid-keel-ssh-1",
		"provision.state":                      "provisioned",
		"provision.hostname":                   "keel-ssh-1",
		"hostname":                             "keel-ssh-1",
		"provision.user.op":                    "uid=1000 keys=1 doas=nopass",
		"provision.write_files[0]":             "/etc/keel-motd",
		"provision.runcmd[0].exit":             "0",
		"provision.note.user-data.unsupported": "packages: not applied",
		"provision.exit":                       "0",
	} {
		if f[k] != want {
			t.Errorf("fact %s = %q, want %q", k, f[k], want)
		}
	}
	if !strings.HasPrefix(f["provision.user.op.key[1]"], "rejected: ssh-keygen") {
		t.Errorf("the malformed key: %q", f["provision.user.op.key[1]"])
	}
}

// azureWireServer is Azure's fixed WireServer address.
const azureWireServer = "168.63.129.16"

// fakeWireServer answers Azure's goal state and records health reports.
type fakeWireServer struct {
	port   int
	mu     sync.Mutex
	health [][]byte
	calls  []string
}

func startWireServer(t *testing.T) *fakeWireServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWireServer{port: l.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.calls = append(w.calls, r.Method+" "+r.URL.RequestURI())
		if r.Header.Get("x-ms-version") != "2012-11-30" {
			http.Error(rw, "x-ms-version", http.StatusBadRequest)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Query().Get("comp") == "goalstate":
			io.WriteString(rw, `<?xml version="1.0" encoding="utf-8"?><GoalState><Version>2012-11-30</Version><Incarnation>7</Incarnation>`+
				`<Machine><ExpectedState>Started</ExpectedState></Machine><Container><ContainerId>c0ffee-container</ContainerId>`+
				`<RoleInstanceList><RoleInstance><InstanceId>keel-role-0</InstanceId><State>Started</State></RoleInstance></RoleInstanceList></Container></GoalState>`)
		case r.Method == "POST" && r.URL.Query().Get("comp") == "health":
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
			w.health = append(w.health, b)
		default:
			http.NotFound(rw, r)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return w
}

// azureBoot boots a second instance of the vm image (a fresh snapshot)
// provisioned from ovf-env.xml: the guest's network is Azure's
// 168.63.129.0/24, so it reaches the fake WireServer at 168.63.129.16.
func azureBoot(t *testing.T, disk string, base boot.Options, firstHostKey string) {
	testenv.RequireTool(t, "genisoimage")
	dir := t.TempDir()
	key, pub := sshKeygen(t, dir, "azureuser")
	media := filepath.Join(dir, "media")
	os.MkdirAll(media, 0o700)
	ovf := `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
  <wa:ProvisioningSection><wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>keel-azure-1</HostName>
      <UserName>azureuser</UserName>
      <DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication>
      <SSH><PublicKeys><PublicKey><Fingerprint>00</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path><Value>` + pub + `</Value></PublicKey></PublicKeys></SSH>
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
</Environment>`
	os.WriteFile(filepath.Join(media, "ovf-env.xml"), []byte(ovf), 0o644)
	seed, err := boot.Seed(context.Background(), media, dir)
	if err != nil {
		t.Fatal(err)
	}
	ws := startWireServer(t)
	port, err := boot.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o := base
	o.Disk, o.Writable, o.Seeds = disk, false, []string{seed}
	o.Net = &boot.Network{Subnet: "168.63.129.0/24", Forwards: []boot.Forward{{Host: port, Guest: 22}},
		GuestForwards: []boot.GuestForward{{Addr: azureWireServer, Port: 80, HostPort: ws.port}}}
	c := sshClient{port: port, knownHosts: filepath.Join(dir, "known_hosts")}
	o.OnReady = func(ctx context.Context, f map[string]string) error {
		ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
		if _, err := boot.WaitSSH(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return err
		}
		out, stderr, err := c.run(ctx, key, "azureuser", nil, "hostname; doas id -un")
		if err != nil || out != "keel-azure-1\nroot\n" {
			return fmt.Errorf("login as azureuser: %q %v %s", out, err, stderr)
		}
		return nil
	}
	res, err := boot.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("azure instance: %s\nconsole:\n%s", res.Reason, res.Console)
	}
	f := res.Facts
	if f["provision.source"] != "azure" || f["provision.state"] != "provisioned" || f["provision.user.azureuser"] != "uid=1000 keys=1 doas=nopass" || f["hostname"] != "keel-azure-1" {
		t.Errorf("azure provisioning facts: %v", f)
	}
	if want := "reported incarnation=7 container=c0ffee-container instance=keel-role-0"; f["provision.azure.ready"] != want {
		t.Errorf("provision.azure.ready = %q, want %q (WireServer saw %v)", f["provision.azure.ready"], want, ws.calls)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.health) != 1 || !bytes.Contains(ws.health[0], []byte("<State>Ready</State>")) || !bytes.Contains(ws.health[0], []byte("<GoalStateIncarnation>7<")) {
		t.Errorf("health reports %q (calls %v)", ws.health, ws.calls)
	}
	// Two VMs from one image: different host keys.
	if hk := f["provision.hostkey.ed25519"]; hk == "" || hk == firstHostKey {
		t.Errorf("the second instance's host key %q equals the first's %q", hk, firstHostKey)
	}
}

// TestVMSSH builds the vm image and logs into it over SSH (NoCloud), then
// boots a second instance from Azure's ovf-env.xml, and (long suite) the
// first instance's disk again. It needs sshd started at boot: until the vm
// image declares its services (keel-init's service supervision, issue #23's
// init side), it skips.
func TestVMSSH(t *testing.T) {
	testenv.Long(t, "three vm boots under TCG with SSH logins (fold into TestDistroBootable's vm boot once sshd runs)")
	testenv.RequireTool(t, "qemu-system-x86_64", "mkfs.ext4", "mkfs.vfat", "mcopy", "objcopy", "qemu-img")
	d, err := Load(filepath.Join(testenv.RepoRoot(), "distro", "images"), "vm")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Services) == 0 {
		t.Skip("the vm image starts no services yet: sshd does not run (needs keel-init's service supervision)")
	}
	repo := distroRepo(t)
	keys := testBootKeys(t)
	res, err := Build(context.Background(), Options{Definition: d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde, Key: keys.key, Trusted: testKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	var man Manifest
	b, err := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	ex, err := man.BootExpect()
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(res.Dir, "vm.qcow2")
	bo := boot.Options{Disk: image, DiskFormat: "qcow2", Firmware: boot.OVMF, Expect: ex, Timeout: 240 * time.Second}
	overlay := vmLogin(t, &bo)
	r, err := boot.Run(context.Background(), bo)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("vm with a NoCloud seed: %s\nconsole:\n%s", r.Reason, r.Console)
	}
	checkNoCloudFacts(t, r.Facts)
	vmSecondBoots(t, image, overlay, bo, r.Facts)
}
