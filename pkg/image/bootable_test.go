package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/pe"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/verity"
)

// bootKeys are the test's distro key and Secure Boot db key, certificate
// and an OVMF vars file with the certificate enrolled as PK, KEK and db.
type bootKeys struct {
	key                   *pgp.Key
	sbKey, sbCert, sbVars string
}

func testBootKeys(t *testing.T) bootKeys {
	t.Helper()
	testenv.RequireTool(t, "virt-fw-vars")
	dir := t.TempDir()
	key, err := pgp.Generate("Keel Linux test", "test@keel-linux.invalid", time.Unix(sde, 0))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Keel test Secure Boot db"},
		NotBefore: time.Unix(sde, 0).Add(-24 * time.Hour), NotAfter: time.Unix(sde, 0).AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	k := bootKeys{key: key, sbKey: filepath.Join(dir, "db.key"), sbCert: filepath.Join(dir, "db.crt"), sbVars: filepath.Join(dir, "vars.fd")}
	if err := os.WriteFile(k.sbKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.sbCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := boot.EnrollVars(context.Background(), "", k.sbCert, k.sbVars); err != nil {
		t.Fatal(err)
	}
	return k
}

// corruptRoot copies disk to out with one byte flipped at off bytes into
// partition 2 (the root; GPT entries are 128 bytes from LBA 2, first LBA at
// byte 32 of an entry).
func corruptRoot(t *testing.T, disk, out string, off int64) {
	t.Helper()
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	start := int64(binary.LittleEndian.Uint64(b[1024+128+32:])) * 512
	b[start+off] ^= 0xff
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBootableOptionsRefused(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "distro", "images")
	guard, err := Load(dir, "guard")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"no distro key", Options{SecureBootKey: "/k", SecureBootCert: "/c"}, "distro signing key"},
		{"no secure boot key", Options{Key: &pgp.Key{}}, "Secure Boot key and certificate"},
		{"half a secure boot pair", Options{Key: &pgp.Key{}, SecureBootKey: "/k"}, "both a key and a certificate"},
		{"missing cert file", Options{Key: &pgp.Key{}, SecureBootKey: "/nonexistent/k", SecureBootCert: "/nonexistent/c"}, "Secure Boot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opt
			o.Definition, o.Repos, o.Out = guard, []string{"/nonexistent"}, out
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a refused build left %v", ents)
	}
}

func TestBootableDefinitionErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: root, filesystem: erofs}]\noutputs: [{format: raw}]\n", "erofs root must have verity"},
		{"name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: root, verity: true}]\noutputs: [{format: raw}]\n", "verity needs a read-only erofs root"},
		{"name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: root, size: 12X}]\noutputs: [{format: raw}]\n", "partitions[0].size"},
		{"name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: swap}]\noutputs: [{format: raw}]\n", "esp and root partitions only"},
		{"name: t\nkind: bootable\nkernel: {package: kernel}\npackages: [kernel]\noutputs: [{format: oci}]\n", "container format"},
		{"name: t\nkind: bootable\nkernel: {package: kernel-hwe}\npackages: [kernel]\noutputs: [{format: raw}]\n", "kernel.package"},
		{"name: t\nkind: bootable\nipe: permissive\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: root, filesystem: erofs, verity: true, readonly: true}]\noutputs: [{format: raw}]\n", `ipe: "permissive": want audit or enforce`},
		{"name: t\nkind: bootable\nipe: enforce\nkernel: {package: kernel}\npackages: [kernel]\npartitions: [{label: r, type: root}]\noutputs: [{format: raw}]\n", "ipe: IPE needs a dm-verity root"},
		{"name: t\nkind: container\nipe: audit\npackages: [busybox]\noutputs: [{format: oci}]\n", "IPE is for bootable images"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestDistroBootable builds vm, hwe and guard from Keel Linux's own RPMs and
// boots each from its disk under OVMF (guard with Secure Boot enforced),
// checking the facts keel-init reads against manifest.json.
func TestDistroBootable(t *testing.T) {
	testenv.Short(t, "builds and boots disk images under TCG")
	testenv.RequireTool(t, "qemu-system-x86_64", "mkfs.erofs", "mkfs.ext4", "mkfs.vfat", "mcopy", "objcopy", "sbsign", "qemu-img")
	repo := distroRepo(t)
	keys := testBootKeys(t)
	dir := filepath.Join(testenv.RepoRoot(), "distro", "images")
	// Two QEMUs at a time on two cores: TCG boots slow down a lot beyond.
	var mu sync.Mutex
	for _, tc := range []struct {
		name, disk, qemuFormat string
		fw                     boot.Firmware
	}{
		{"vm", "vm.qcow2", "qcow2", boot.OVMF},
		{"guard", "guard.raw", "raw", boot.OVMFSecureBoot},
		{"hwe", "hwe.vhd", "vpc", boot.OVMF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := Load(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "vm" {
				d.Services = append(d.Services, vmTestServices...)
			}
			opt := Options{Definition: d, Repos: []string{repo}, Out: t.TempDir(), SourceDateEpoch: sde, Key: keys.key, Trusted: testKeyring()}
			if tc.fw == boot.OVMFSecureBoot {
				opt.SecureBootKey, opt.SecureBootCert = keys.sbKey, keys.sbCert
			}
			start := time.Now()
			res, err := Build(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s built in %s", tc.name, time.Since(start).Round(time.Millisecond))
			var man Manifest
			b, err := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "guard" {
				// Reproducible: a second build gives the same outputs (the
				// manifest records every output's sha256 and the root hash).
				opt.Out = t.TempDir()
				res2, err := Build(context.Background(), opt)
				if err != nil {
					t.Fatal(err)
				}
				b2, _ := os.ReadFile(filepath.Join(res2.Dir, "manifest.json"))
				if !bytes.Equal(b, b2) {
					t.Errorf("two guard builds differ:\n%s\n%s", b, b2)
				}
			}
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			if man.Boot == nil || man.Boot.KernelRelease == "" {
				t.Fatalf("manifest.json has no boot.kernel_release: %s", b)
			}
			if (tc.name == "guard") != (man.Boot.RootHash != "") {
				t.Errorf("root hash %q for %s", man.Boot.RootHash, tc.name)
			}
			hwe := tc.name == "hwe" || tc.name == "guard" // the guard needs 6.12's root hash signature check
			if hwe && !strings.HasPrefix(man.Boot.KernelRelease, "6.12") || !hwe && !strings.HasPrefix(man.Boot.KernelRelease, "6.1.") {
				t.Errorf("%s: kernel release %s", tc.name, man.Boot.KernelRelease)
			}
			for _, o := range d.Outputs {
				found := false
				for _, mo := range man.Outputs {
					if mo.Format == o.Format {
						found = mo.SHA256 != "" && mo.Size > 0
					}
				}
				if !found {
					t.Errorf("manifest lacks output %s: %+v", o.Format, man.Outputs)
				}
			}
			ex, err := man.BootExpect()
			if err != nil {
				t.Fatal(err)
			}
			vars := ""
			if tc.fw == boot.OVMFSecureBoot {
				vars = keys.sbVars
				ex = append(ex, man.TrustExpect()...)
			}
			var network *boot.Network
			var hold func(context.Context, *boot.Live) error
			if tc.name == "vm" {
				ex, network, hold = vmBootOptions(t, ex) // network, services and firewall (vmboot_test.go)
			}
			mu.Lock()
			r, err := boot.Run(context.Background(), boot.Options{Disk: filepath.Join(res.Dir, tc.disk), DiskFormat: tc.qemuFormat,
				Firmware: tc.fw, Vars: vars, Expect: ex, Timeout: 150 * time.Second, Net: network, Hold: hold})
			mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: status after %s (OVMF%s)", tc.name, r.StatusAfter.Round(time.Millisecond),
				map[bool]string{true: ", Secure Boot"}[tc.fw == boot.OVMFSecureBoot])
			if !r.OK {
				t.Fatalf("%s did not boot: %s\nconsole:\n%s", tc.name, r.Reason, r.Console)
			}
			if tc.name != "guard" {
				return
			}
			// A flipped byte in the erofs superblock (read at mount) must
			// stop the boot: dm-verity panics on corruption.
			bad := filepath.Join(t.TempDir(), "bad.raw")
			corruptRoot(t, filepath.Join(res.Dir, tc.disk), bad, 1024+8)
			mu.Lock()
			r, err = boot.Run(context.Background(), boot.Options{Disk: bad, Firmware: tc.fw, Vars: vars, Expect: ex, Timeout: 150 * time.Second})
			mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if r.OK {
				t.Fatalf("guard booted with a corrupted root:\n%s", r.Console)
			}
			t.Logf("corrupted guard refused: %s", r.Reason)

			// A consistent forgery: a changed file, a rebuilt erofs and hash
			// tree and the new root hash on the command line, with the
			// genuine signature (the forger has no key). The kernel, initrd
			// and command line come out of the image's own UKI; the boot is
			// direct, as if the forger could get any command line accepted.
			// keel-init must refuse before it maps the root.
			forged := forgeGuard(t, filepath.Join(res.Dir, tc.disk), filepath.Join(res.Dir, "guard.efi"), man.Boot.RootHash)
			mu.Lock()
			r, err = boot.Run(context.Background(), boot.Options{Disk: forged.disk, Firmware: boot.Direct, Kernel: forged.kernel,
				Initrd: forged.initrd, Cmdline: forged.cmdline, Timeout: 150 * time.Second})
			mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != "fail" || !strings.Contains(r.Reason, "signature does not verify") || r.Facts["initrd.verity.signature"] != "refused" {
				t.Fatalf("forged guard root (hash %s): status %q, reason %q, facts %v\nconsole:\n%s", forged.rootHash, r.Status, r.Reason, r.Facts, r.Console)
			}
			t.Logf("forged guard refused: %s", r.Reason)
		})
	}
}

type forgery struct{ disk, kernel, initrd, cmdline, rootHash string }

// gptPart returns the byte offset and size of partition n (1-based) of a
// raw disk with 512-byte sectors and 128-byte entries from LBA 2.
func gptPart(t *testing.T, disk []byte, n int) (off, size int64) {
	t.Helper()
	e := 1024 + (n-1)*128
	first := int64(binary.LittleEndian.Uint64(disk[e+32:]))
	last := int64(binary.LittleEndian.Uint64(disk[e+40:]))
	if first == 0 || last < first || (last+1)*512 > int64(len(disk)) {
		t.Fatalf("partition %d: LBAs %d-%d", n, first, last)
	}
	return first * 512, (last - first + 1) * 512
}

// forgeGuard changes /etc/hostname in the guard root, rebuilds the erofs and
// its hash tree into a copy of the disk and returns it with the UKI's kernel,
// initrd and command line, the root hash replaced by the forged one.
func forgeGuard(t *testing.T, rawDisk, efi, genuineHash string) forgery {
	t.Helper()
	testenv.RequireTool(t, "fsck.erofs", "mkfs.erofs")
	dir := t.TempDir()
	raw, err := os.ReadFile(rawDisk)
	if err != nil {
		t.Fatal(err)
	}
	rootOff, rootSize := gptPart(t, raw, 2)
	hashOff, hashSize := gptPart(t, raw, 3)
	sb, err := verity.ParseSuperblock(raw[hashOff : hashOff+verity.SuperblockSize])
	if err != nil {
		t.Fatal(err)
	}
	orig := filepath.Join(dir, "root.img")
	if err := os.WriteFile(orig, raw[rootOff:rootOff+int64(sb.DataBlocks)*int64(sb.DataBlockSize)], 0o644); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	if out, err := exec.Command("fsck.erofs", "--extract="+tree, orig).CombinedOutput(); err != nil {
		t.Fatalf("fsck.erofs --extract: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(tree, "etc/hostname"), []byte("forged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "forged.img")
	if out, err := exec.Command("mkfs.erofs", "--quiet", "--all-root", img, tree).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.erofs: %v: %s", err, out)
	}
	fsImg, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	var hash bytes.Buffer
	p, err := verity.Format(context.Background(), bytes.NewReader(fsImg), int64(len(fsImg)), &hash, verity.Options{Salt: sb.Salt, UUID: sb.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if p.RootHash.String() == genuineHash {
		t.Fatal("the forgery did not change the root hash")
	}
	if int64(len(fsImg)) > rootSize || int64(hash.Len()) > hashSize {
		t.Fatalf("forged root (%d bytes) or tree (%d) does not fit the partitions (%d, %d)", len(fsImg), hash.Len(), rootSize, hashSize)
	}
	clear(raw[rootOff : rootOff+rootSize])
	copy(raw[rootOff:], fsImg)
	clear(raw[hashOff : hashOff+hashSize])
	copy(raw[hashOff:], hash.Bytes())
	f := forgery{disk: filepath.Join(dir, "forged.raw"), kernel: filepath.Join(dir, "vmlinuz"), initrd: filepath.Join(dir, "initrd"), rootHash: p.RootHash.String()}
	if err := os.WriteFile(f.disk, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	pf, err := pe.Open(efi)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	section := func(name string) []byte {
		s := pf.Section(name)
		if s == nil {
			t.Fatalf("%s has no %s section", efi, name)
		}
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		// Data is padded to the file alignment; VirtualSize is the payload.
		return b[:min(len(b), int(s.VirtualSize))]
	}
	if err := os.WriteFile(f.kernel, section(".linux"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.initrd, section(".initrd"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmdline := string(bytes.TrimRight(section(".cmdline"), "\x00"))
	if !strings.Contains(cmdline, "keel.roothash="+genuineHash) {
		t.Fatalf("UKI command line %q lacks the genuine root hash", cmdline)
	}
	f.cmdline = strings.Replace(cmdline, "keel.roothash="+genuineHash, "keel.roothash="+f.rootHash, 1)
	return f
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64M", "2G", "512", "1K", "", "M", "-1M", "99999999999G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && (n <= 0 || n > 1<<44) {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}
