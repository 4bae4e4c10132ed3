package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/selinux"
)

// kernelRoot is an image root holding only a kernel config.
func kernelRoot(t *testing.T, config string) (*os.Root, string) {
	t.Helper()
	dir := t.TempDir()
	mod := "usr/lib/modules/6.12.0-test"
	os.MkdirAll(filepath.Join(dir, mod), 0o755)
	if config != "" {
		os.WriteFile(filepath.Join(dir, mod, "config"), []byte(config), 0o644)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, mod
}

// TestSELinuxKernelRefused: an image asking for SELinux on a kernel that
// has none, or whose LSM order starts another exclusive module, does not build.
func TestSELinuxKernelRefused(t *testing.T) {
	const debian = "CONFIG_SECURITY_SELINUX=y\nCONFIG_LSM=\"landlock,lockdown,yama,integrity,apparmor,selinux,bpf\"\n"
	for _, tc := range []struct {
		name, config string
		cmdline      []string
		want         string // "" = accepted
	}{
		{"no SELinux", "# CONFIG_SECURITY_SELINUX is not set\n", nil, "kernel 6.12.0-test (kernel-hwe) is built without SELinux"},
		{"no config", "", nil, "cannot read the kernel's config"},
		{"AppArmor first", debian, nil, `would start apparmor, not SELinux (its default CONFIG_LSM is "landlock,lockdown,yama,integrity,apparmor,selinux,bpf")`},
		{"lsm= without selinux", debian, []string{"lsm=lockdown,yama"}, `would not start SELinux (kernel.cmdline's lsm= is "lockdown,yama")`},
		{"lsm= with selinux", debian, []string{"console=ttyS0", "lsm=lockdown,yama,selinux,bpf"}, ""},
		{"SELinux first by default", "CONFIG_SECURITY_SELINUX=y\nCONFIG_LSM=\"lockdown,selinux,apparmor\"\n", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, mod := kernelRoot(t, tc.config)
			d := &Definition{SELinux: "enforcing", Kernel: &Kernel{Package: "kernel-hwe", Cmdline: tc.cmdline}}
			err := checkSELinuxKernel(d, r, mod)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSELinuxPolicyRefused: a policy that does not compile (here a label
// naming a type no module declares) stops the build before anything is
// installed, naming the file and line.
func TestSELinuxPolicyRefused(t *testing.T) {
	testenv.RequireTool(t, "secilc")
	d, err := Parse("t.yaml", []byte(selinuxDefinition("enforcing", "")))
	if err != nil {
		t.Fatal(err)
	}
	pol := t.TempDir()
	srcs, _ := selinux.Sources(filepath.Join(testenv.RepoRoot(), "distro", "selinux"))
	for _, s := range srcs {
		b, _ := os.ReadFile(s)
		os.WriteFile(filepath.Join(pol, filepath.Base(s)), b, 0o644)
	}
	os.WriteFile(filepath.Join(pol, "opt.cil"), []byte("; a module\n(filecon \"/opt(/.*)?\" any (system_u object_r opt_t s0s0))\n"), 0o644)
	out := t.TempDir()
	_, err = Build(context.Background(), Options{Definition: d, Repos: []string{"/nonexistent"}, Out: out, SELinuxPolicy: pol, RootOnly: true})
	want := filepath.Join(pol, "opt.cil") + `:2: SELinux policy does not compile: (filecon "/opt(/.*)?" any (system_u object_r opt_t s0s0))`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a refused build left %v", ents)
	}
}

// selinuxDefinition is a guard-like image (erofs root under dm-verity,
// Secure Boot UKI, the 6.12 kernel) with SELinux in mode and extra YAML.
func selinuxDefinition(mode, extra string) string {
	return `name: sel
kind: bootable
packages: [filesystem, keel-release, glibc, libgcc, busybox, keel-init, kernel-hwe]
kernel:
  package: kernel-hwe
  cmdline: [console=ttyS0, panic=-1, no_timer_check, loglevel=4, cryptomgr.notests, "lsm=lockdown,yama,selinux,bpf"]
partitions:
  - {label: esp, type: esp, size: 64M, filesystem: vfat}
  - {label: root, type: root, filesystem: erofs, verity: true, readonly: true}
outputs: [{format: raw}]
selinux: ` + mode + "\n" + extra
}

// selinuxProbe is a health check (run confined, in keel_health_t) that
// does one thing its domain allows and two it does not.
const selinuxProbe = `files:
  - path: /etc/shadow
    mode: "0600"
    content: "root:!:20000::::::\n"
  - path: /usr/lib/keel/health.d/20-selinux-probe
    mode: "0755"
    content: |
      #!/usr/bin/busybox sh
      read -r first < /etc/os-release && echo "read=ok" || echo "read=denied"
      if echo x > /run/selinux-probe; then echo "write=ok"; else echo "write=denied"; fi
      if read -r l < /etc/shadow; then echo "shadow=ok"; else echo "shadow=denied"; fi
      echo "context=$(/usr/bin/busybox cat /proc/self/attr/current)"
`

// TestDistroSELinuxEnforcing builds an enforcing image from Keel Linux's
// RPMs and the distro policy, reads the labels back out of its erofs, boots
// it under Secure Boot and checks in one boot: the policy loaded and
// enforced, PID 1 unable to turn it off or replace it, the confined health
// check allowed its read and denied its writes, with the kernel's AVC record.
func TestDistroSELinuxEnforcing(t *testing.T) { testDistroSELinux(t, "enforcing") }

// TestDistroSELinuxPermissive: the same image in permissive mode (the
// guard's default) lets the confined check do what enforcing refuses and
// logs the same denials (permissive=1).
func TestDistroSELinuxPermissive(t *testing.T) {
	testenv.Long(t, "a second image build and Secure Boot boot; the guard boots permissive in TestDistroBootable")
	testDistroSELinux(t, "permissive")
}

func testDistroSELinux(t *testing.T, mode string) {
	testenv.Short(t, "builds and boots a disk image under TCG")
	testenv.RequireTool(t, "qemu-system-x86_64", "mkfs.erofs", "dump.erofs", "mkfs.vfat", "mcopy", "objcopy", "sbsign", "secilc")
	enforcing := mode == "enforcing"
	repo := distroRepo(t)
	keys := testBootKeys(t)
	d, err := Parse(filepath.Join(testenv.RepoRoot(), "distro", "images", "sel.yaml"), []byte(selinuxDefinition(mode, selinuxProbe)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), Options{Definition: d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde,
		Key: keys.key, Trusted: testKeyring(), SecureBootKey: keys.sbKey, SecureBootCert: keys.sbCert})
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
	if man.SELinux == nil || man.SELinux.Mode != mode || len(man.SELinux.PolicySHA256) != 64 {
		t.Fatalf("manifest selinux: %+v", man.SELinux)
	}
	if strings.Contains(man.Boot.Cmdline, " enforcing=1") != enforcing {
		t.Errorf("%s: cmdline %q", mode, man.Boot.Cmdline)
	}

	// The labels are in the erofs: read security.selinux back.
	rootImg := extractPartition(t, filepath.Join(res.Dir, "sel.raw"), 1)
	for p, want := range map[string]string{
		"/":                   "system_u:object_r:root_t",
		"/usr/sbin/keel-init": "system_u:object_r:init_exec_t",
		"/usr/bin/busybox":    "system_u:object_r:bin_t",
		"/etc/os-release":     "system_u:object_r:etc_t",
		"/etc/shadow":         "system_u:object_r:shadow_t",
		"/usr/lib/keel/health.d/20-selinux-probe": "system_u:object_r:keel_health_exec_t",
		selinux.PolicyPath:                        "system_u:object_r:selinux_config_t",
	} {
		got := erofsLabel(t, rootImg, p)
		if strings.TrimRight(got, "\x00") != want {
			t.Errorf("%s: security.selinux %q, want %q", p, got, want)
		}
	}

	ex, err := man.BootExpect()
	if err != nil {
		t.Fatal(err)
	}
	probe := "health.20-selinux-probe.output"
	refused := map[bool]string{true: "denied", false: "ok"}[enforcing]
	ex = append(ex, boot.MustExpect(
		"health.20-selinux-probe.exit=0",
		probe+"~=(?m)^read=ok$",
		probe+"~=(?m)^write="+refused+"$",
		probe+"~=(?m)^shadow="+refused+"$",
		probe+"~=(?m)^context=system_u:system_r:keel_health_t",
	)...)
	r, err := boot.Run(context.Background(), boot.Options{Disk: filepath.Join(res.Dir, "sel.raw"), DiskFormat: "raw",
		Firmware: boot.OVMFSecureBoot, Vars: keys.sbVars, Expect: ex, Timeout: 150 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("%s image: %s\nfacts: %v\nconsole:\n%s", mode, r.Reason, r.Facts, r.Console)
	}
	avc := r.Facts["selinux.avc"]
	want := []*regexp.Regexp{
		boot.AVCDenied("keel_health_t", "search", "tmpfs_t", "dir", enforcing), // /run: not even looked into
		boot.AVCDenied("keel_health_t", "read", "shadow_t", "file", enforcing),
	}
	if enforcing {
		// PID 1's own tries (selinuxFacts); permissive skips them.
		want = append(want, boot.AVCDenied("kernel_t", "setenforce", "security_t", "security", true),
			boot.AVCDenied("kernel_t", "load_policy", "security_t", "security", true))
	}
	for _, re := range want {
		if !re.MatchString(avc) {
			t.Errorf("no AVC record matching %s in:\n%s", re, avc)
		}
	}
	// Permissive logs each denied permission once per object: the write
	// into /run adds more than enforcing's single refused search.
	if n, _ := strconv.Atoi(r.Facts["selinux.avc_denials"]); enforcing && n != len(want) || n < len(want) {
		t.Errorf("%d AVC denials, want the %d above:\n%s", n, len(want), avc)
	}
}

// extractPartition copies partition n (0-based) of a GPT disk to a file.
func extractPartition(t *testing.T, disk string, n int) string {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ent := make([]byte, 128)
	if _, err := f.ReadAt(ent, 1024+int64(n)*128); err != nil {
		t.Fatal(err)
	}
	first, last := int64(binary.LittleEndian.Uint64(ent[32:])), int64(binary.LittleEndian.Uint64(ent[40:]))
	out := filepath.Join(t.TempDir(), "part.img")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, io.NewSectionReader(f, first*512, (last-first+1)*512)); err != nil {
		t.Fatal(err)
	}
	return out
}

// erofsLabel reads path's security.selinux out of an erofs image: dump.erofs
// finds the inode, then its inline and shared xattrs are read as the
// on-disk format lays them out (superblock at 1024, 32-byte inode slots).
func erofsLabel(t *testing.T, img, path string) string {
	t.Helper()
	out, err := exec.Command("dump.erofs", "--path="+path, img).CombinedOutput()
	if err != nil {
		t.Fatalf("dump.erofs --path=%s: %v: %s", path, err, out)
	}
	m := regexp.MustCompile(`NID: (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("dump.erofs --path=%s: no NID in %s", path, out)
	}
	nid, _ := strconv.ParseInt(string(m[1]), 10, 64)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sb := b[1024:]
	if binary.LittleEndian.Uint32(sb) != 0xE0F5E1E2 {
		t.Fatal("not an erofs image")
	}
	blk := int64(1) << sb[12]
	meta, xattrBlk := int64(binary.LittleEndian.Uint32(sb[40:])), int64(binary.LittleEndian.Uint32(sb[44:]))
	ino := meta*blk + nid*32
	isize := int64(32)
	if binary.LittleEndian.Uint16(b[ino:])&1 == 1 {
		isize = 64
	}
	icount := int64(binary.LittleEndian.Uint16(b[ino+2:]))
	if icount == 0 {
		return ""
	}
	x := ino + isize
	end := x + 12 + (icount-1)*4
	shared := int64(b[x+4])
	// entry reads one xattr entry at off: its name, value and length.
	entry := func(off int64) (string, []byte, int64) {
		nameLen, idx, vlen := int64(b[off]), b[off+1], int64(binary.LittleEndian.Uint16(b[off+2:]))
		name := string(b[off+4 : off+4+nameLen])
		if idx == 6 {
			name = "security." + name
		}
		return name, b[off+4+nameLen : off+4+nameLen+vlen], (4 + nameLen + vlen + 3) &^ 3
	}
	for i := int64(0); i < shared; i++ {
		id := int64(binary.LittleEndian.Uint32(b[x+12+i*4:]))
		if name, v, _ := entry(xattrBlk*blk + id*4); name == "security.selinux" {
			return string(v)
		}
	}
	for off := x + 12 + shared*4; off < end; {
		name, v, n := entry(off)
		if name == "security.selinux" {
			return string(v)
		}
		off += n
	}
	return fmt.Sprint("no security.selinux on ", path, " ", bytes.TrimSpace(out))
}

// TestExt4Labels: an ext4 root gets the same labels, written by debugfs in
// the pass that clamps inode times, and read back with debugfs.
func TestExt4Labels(t *testing.T) {
	testenv.RequireTool(t, "mkfs.ext4", "debugfs", "secilc")
	p, err := selinux.Compile(context.Background(), filepath.Join(testenv.RepoRoot(), "distro", "selinux"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for path, data := range map[string][]byte{"etc/os-release": []byte("ID=keel\n"), "usr/sbin/keel-init": []byte("x"),
		"etc/shadow": []byte("root:!::::::\n"), strings.TrimPrefix(selinux.FileContextsPath, "/"): p.FileContexts} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "root.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", dir, "-O", "^has_journal", img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := clampExt4Times(context.Background(), img, r, sde, true); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/": "root_t", "/etc/os-release": "etc_t", "/etc/shadow": "shadow_t",
		"/usr/sbin/keel-init": "init_exec_t", selinux.FileContextsPath: "selinux_config_t"} {
		out, err := exec.Command("debugfs", "-R", "ea_get -V "+path+" security.selinux", img).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "system_u:object_r:"+want+"\n") {
			t.Errorf("%s: %v: %s; want %s", path, err, out, want)
		}
	}
}
