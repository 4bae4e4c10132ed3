package boot

// Test fixtures: real bootable images built from the Debian cloud kernels in
// /work/shared/lookaside, keel-init built from distro/SPECS/keel-init/src and
// Debian's static busybox, with Keel's own verity, initramfs, UKI and disk
// writers. This is what the image pipeline will do from RPMs.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/disk"
	"github.com/keel-linux/keel/pkg/initramfs"
	"github.com/keel-linux/keel/pkg/kernelsig"
	"github.com/keel-linux/keel/pkg/uki"
	"github.com/keel-linux/keel/pkg/verity"
)

const epoch = 1763856000 // 2025-11-23, fixed SOURCE_DATE_EPOCH

var kernelDebs = map[string]string{
	"6.1":  "lookaside/linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
	"6.12": "lookaside/linux-image-6.12.95+deb12-cloud-amd64_6.12.95-1~bpo12+1_amd64.deb",
}

type kernel struct {
	Release, Vmlinuz, ModulesDir string
}

var kernelOnce sync.Map // deb path -> *kernelResult

type kernelResult struct {
	once sync.Once
	k    kernel
	err  error
}

// extractKernel unpacks a kernel .deb once into ~/.cache/keel/kernels/<sha256>
// and runs depmod there.
func extractKernel(t testing.TB, which string) kernel {
	t.Helper()
	testenv.RequireTool(t, "dpkg-deb", "depmod")
	deb := testenv.RequireShared(t, kernelDebs[which])
	v, _ := kernelOnce.LoadOrStore(deb, &kernelResult{})
	kr := v.(*kernelResult)
	kr.once.Do(func() { kr.k, kr.err = doExtract(deb) })
	if kr.err != nil {
		t.Fatal(kr.err)
	}
	return kr.k
}

func doExtract(deb string) (kernel, error) {
	b, err := os.ReadFile(deb)
	if err != nil {
		return kernel{}, err
	}
	sum := sha256.Sum256(b)
	cache := os.Getenv("KEEL_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "keel")
	}
	dir := filepath.Join(cache, "kernels", hex.EncodeToString(sum[:]))
	if _, err := os.Stat(dir); err != nil {
		// On a new machine the kernels directory does not exist yet, and
		// dpkg-deb -x creates only its last path element. Each test process
		// unpacks into its own temporary directory; the first rename wins.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return kernel{}, err
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
		if err != nil {
			return kernel{}, err
		}
		defer os.RemoveAll(tmp)
		if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			return kernel{}, fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(dir); serr != nil {
				return kernel{}, err
			}
		}
	}
	mods, _ := filepath.Glob(filepath.Join(dir, "lib/modules/*"))
	if len(mods) != 1 {
		return kernel{}, fmt.Errorf("%s: want one lib/modules/<release>, found %v", dir, mods)
	}
	rel := filepath.Base(mods[0])
	if _, err := os.Stat(filepath.Join(mods[0], "modules.dep")); err != nil {
		if out, err := exec.Command("depmod", "-b", dir, rel).CombinedOutput(); err != nil {
			return kernel{}, fmt.Errorf("depmod: %v: %s", err, out)
		}
	}
	return kernel{Release: rel, Vmlinuz: filepath.Join(dir, "boot", "vmlinuz-"+rel), ModulesDir: mods[0]}, nil
}

var initOnce struct {
	sync.Once
	path string
	err  error
}

// keelInit builds keel-init the way its spec does (static, trimmed, no build id).
func keelInit(t testing.TB) string {
	t.Helper()
	testenv.RequireTool(t, "gcc") // external linking for static-pie
	initOnce.Do(func() {
		dir, err := tempDir("keel-init-*")
		if err != nil {
			initOnce.err = err
			return
		}
		initOnce.path = filepath.Join(dir, "keel-init")
		// static-pie, as the package should ship it: it runs as the
		// initramfs /init with no dynamic loader, and is position independent.
		// (CGO_ENABLED=0 with -buildmode=pie gives a PIE that needs ld.so.)
		cmd := exec.Command("go", "build", "-tags", "netgo,osusergo", "-trimpath", "-buildmode=pie", "-buildvcs=false",
			"-ldflags", "-s -w -buildid= -linkmode=external -extldflags '-static-pie -Wl,--build-id=none'",
			"-o", initOnce.path, ".")
		// Its own module (go.mod with pinned dependencies, docs/go.md).
		cmd.Dir = filepath.Join(testenv.RepoRoot(), "distro/SPECS/keel-init/src")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			initOnce.err = fmt.Errorf("building keel-init: %v: %s", err, out)
		}
	})
	if initOnce.err != nil {
		t.Fatal(initOnce.err)
	}
	return initOnce.path
}

// keys are the test's signing keys: Secure Boot db (RSA, X.509) and the
// Ed25519 root hash key. Fixed seeds keep images reproducible.
type keys struct {
	dbKey, dbCert, vars string
	verityPriv          ed25519.PrivateKey
	verityPubPEM        []byte
}

var keysOnce struct {
	sync.Once
	k   keys
	err error
}

type seededReader struct{ state [32]byte }

func (r *seededReader) Read(p []byte) (int, error) {
	for i := range p {
		if i%32 == 0 {
			r.state = sha256.Sum256(r.state[:])
		}
		p[i] = r.state[i%32]
	}
	return len(p), nil
}

func testKeys(t testing.TB) keys {
	t.Helper()
	testenv.RequireTool(t, "virt-fw-vars")
	keysOnce.Do(func() {
		var err error
		dir, err := tempDir("keel-keys-*")
		if err != nil {
			keysOnce.err = err
			return
		}
		k := &keysOnce.k
		k.verityPriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		if k.verityPubPEM, err = verity.PublicKeyPEM(k.verityPriv.Public().(ed25519.PublicKey)); err != nil {
			keysOnce.err = err
			return
		}
		k.vars = filepath.Join(dir, "vars.fd")
		if k.dbKey, k.dbCert, err = writeSelfSigned(dir, "Keel test Secure Boot db"); err != nil {
			keysOnce.err = err
			return
		}
		keysOnce.err = EnrollVars(context.Background(), "", k.dbCert, k.vars)
	})
	if keysOnce.err != nil {
		t.Fatal(keysOnce.err)
	}
	return keysOnce.k
}

// writeSelfSigned writes an RSA-2048 key and a self-signed certificate for
// it (PEM) into dir, as keel keys init's Secure Boot pair.
func writeSelfSigned(dir, cn string) (key, cert string, err error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(epoch, 0).Add(-24 * time.Hour), NotAfter: time.Unix(epoch, 0).AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		return "", "", err
	}
	base := strings.ReplaceAll(cn, " ", "-")
	key, cert = filepath.Join(dir, base+".key"), filepath.Join(dir, base+".crt")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		return "", "", err
	}
	return key, cert, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
}

// image is a built test image and what a test needs to poke at it.
type image struct {
	Dir, Disk, UKI, SignedUKI, Initrd, Kernel, Cmdline string
	RootFS                                             string // erofs or ext4 image
	RootHash                                           verity.RootHash
	Layout                                             *disk.Layout
	Release                                            string
}

type imageOpts struct {
	variant  string // vm, hwe, guard
	hostname string // changes root content (forgery)
	sigFor   string // sign this root hash instead of the real one (forgery); "" = real
	ipe      string // guard: IPE mode, "" = audit (the guard's default)
}

// buildRoot lays out the root tree: keel-init as /sbin/init, busybox, a
// health check.
func buildRoot(t testing.TB, dir string, o imageOpts) {
	t.Helper()
	testenv.RequireTool(t, "busybox")
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "etc", "usr/sbin", "usr/bin", "usr/lib/keel/health.d", "root", "var"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, keelInit(t), filepath.Join(dir, "usr/sbin/keel-init"), 0o755)
	copyFile(t, bb, filepath.Join(dir, "usr/bin/busybox"), 0o755)
	os.Symlink("usr/sbin", filepath.Join(dir, "sbin"))
	os.Symlink("usr/bin", filepath.Join(dir, "bin"))
	os.Symlink("keel-init", filepath.Join(dir, "usr/sbin/init"))
	os.Symlink("busybox", filepath.Join(dir, "usr/bin/sh"))
	host := o.hostname
	if host == "" {
		host = "keel-" + o.variant
	}
	os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte(host+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte(osRelease), 0o644)
	os.WriteFile(filepath.Join(dir, "usr/lib/keel/health.d/10-shell"), []byte("#!/usr/bin/busybox sh\necho \"env=$(/usr/bin/busybox env | /usr/bin/busybox wc -l) uid=$(/usr/bin/busybox id -u)\"\n"), 0o755)
	if o.variant == "guard" {
		writeIPEProbe(t, dir)
	}
	// Fixed mtimes everywhere (mkfs.erofs -T and mkfs.ext4 under E2FSPROGS_FAKE_TIME read them).
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			tm := time.Unix(epoch, 0)
			if fi.Mode()&os.ModeSymlink == 0 {
				os.Chtimes(p, tm, tm)
			} else {
				exec.Command("touch", "-h", "-d", "@"+fmt.Sprint(epoch), p).Run()
			}
		}
		return nil
	})
}

const osRelease = "NAME=\"Keel Linux\"\nID=keel\nVERSION_ID=1.0\nPRETTY_NAME=\"Keel Linux 1.0\"\n"

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// buildImage builds a variant into dir.
func buildImage(t testing.TB, dir string, o imageOpts) *image {
	t.Helper()
	testenv.RequireTool(t, "mkfs.erofs", "mkfs.ext4", "mkfs.vfat", "mcopy", "objcopy", "sbsign")
	ctx := context.Background()
	kver := "6.1"
	if o.variant == "hwe" || o.variant == "guard" { // the guard needs 6.12's root hash signature check
		kver = "6.12"
	}
	k := extractKernel(t, kver)
	ks := testKeys(t)
	img := &image{Dir: dir, Kernel: k.Vmlinuz, Release: k.Release}
	seed := "keel-test-" + o.variant

	rootDir := filepath.Join(dir, "root")
	buildRoot(t, rootDir, o)
	guard := o.variant == "guard"
	img.RootFS = filepath.Join(dir, "root.img")
	verityPath := filepath.Join(dir, "root.verity")
	var parts []disk.Partition
	espPart := disk.Partition{Name: "esp", Type: disk.TypeESP, Size: 64 << 20}
	if guard {
		run(t, nil, "mkfs.erofs", "--quiet", "-T", fmt.Sprint(epoch), "-U", disk.SeededGUID(seed, "erofs").String(), "--all-root", img.RootFS, rootDir)
		f, err := os.Open(img.RootFS)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		var hash bytes.Buffer
		salt := sha256.Sum256([]byte(seed + "/verity-salt"))
		var uuid [16]byte = disk.SeededGUID(seed, "verity")
		p, err := verity.Format(ctx, f, fi.Size(), &hash, verity.Options{Salt: salt[:], UUID: uuid})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		img.RootHash = p.RootHash
		if err := os.WriteFile(verityPath, hash.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		parts = []disk.Partition{espPart,
			{Name: "root", Type: disk.TypeRootX86_64, Source: img.RootFS, Attributes: 1 << 60},
			{Name: "root-verity", Type: disk.TypeVerityX86_64, Source: verityPath, Attributes: 1 << 60}}
	} else {
		run(t, []string{"E2FSPROGS_FAKE_TIME=" + fmt.Sprint(epoch)}, "mkfs.ext4", "-q", "-F", "-d", rootDir, "-U", disk.SeededGUID(seed, "ext4").String(),
			"-E", "hash_seed="+disk.SeededGUID(seed, "ext4-hash").String()+",root_owner=0:0", "-O", "^has_journal", img.RootFS, "64M")
		parts = []disk.Partition{espPart, {Name: "root", Type: disk.TypeRootX86_64, Source: img.RootFS}}
	}
	plan, err := disk.Plan(disk.Options{Seed: seed, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := plan.Find("root")
	cmdline := "console=ttyS0 panic=-1 no_timer_check loglevel=4 cryptomgr.notests keel.after=poweroff keel.root=PARTUUID=" + root.GUID.String()
	modules := []string{"virtio_pci", "virtio_blk"}
	var files []initramfs.File
	if guard {
		hp, _ := plan.Find("root-verity")
		signed := img.RootHash.String()
		if o.sigFor != "" {
			signed = o.sigFor
		}
		sig := ed25519.Sign(ks.verityPriv, []byte(signed)) // = RootHash.SignedMessage() unless forging
		signer, err := kernelsig.Load(ks.dbKey, ks.dbCert)
		if err != nil {
			t.Fatal(err)
		}
		p7, err := signer.Detached([]byte(signed))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, initramfs.File{Path: "/etc/keel/roothash.p7s", Data: p7})
		files = append(files, ipeFiles(t, signer, o.ipe)...)
		cmdline += " lsm=landlock,lockdown,yama,integrity,selinux,bpf,ipe keel.rootfstype=erofs ro keel.verity=PARTUUID=" + hp.GUID.String() +
			" keel.roothash=" + img.RootHash.String() + " keel.roothash.sig=" + verity.SignatureParam(sig)
		modules = append(modules, "dm-verity", "erofs")
	} else {
		cmdline += " keel.rootfstype=ext4 rw"
	}
	img.Cmdline = cmdline
	img.Initrd = filepath.Join(dir, "initrd.cpio")
	if err := initramfs.WriteFile(ctx, initramfs.Options{Init: keelInit(t), ModulesDir: k.ModulesDir, Modules: modules,
		VerityKeys: [][]byte{ks.verityPubPEM}, Files: files, SourceDateEpoch: epoch}, img.Initrd); err != nil {
		t.Fatal(err)
	}
	// The UKI carries the same archive zstd-compressed, as the image
	// pipeline builds it (firmware pays per byte; -initrd does not).
	ukiInitrd := filepath.Join(dir, "initrd.cpio.zst")
	if err := initramfs.WriteFile(ctx, initramfs.Options{Init: keelInit(t), ModulesDir: k.ModulesDir, Modules: modules,
		VerityKeys: [][]byte{ks.verityPubPEM}, Files: files, SourceDateEpoch: epoch, Compression: "zstd"}, ukiInitrd); err != nil {
		t.Fatal(err)
	}
	img.UKI = filepath.Join(dir, "keel.efi")
	if err := uki.Build(ctx, uki.Options{Kernel: k.Vmlinuz, Initrd: ukiInitrd, Cmdline: cmdline, OSRelease: []byte(osRelease), Out: img.UKI}); err != nil {
		t.Fatal(err)
	}
	img.SignedUKI = filepath.Join(dir, "keel.signed.efi")
	if err := uki.Sign(ctx, img.UKI, img.SignedUKI, uki.SignOptions{Key: ks.dbKey, Cert: ks.dbCert, SourceDateEpoch: epoch}); err != nil {
		t.Fatal(err)
	}
	img.Disk = filepath.Join(dir, "disk.raw")
	img.Layout = makeDisk(t, dir, img.SignedUKI, seed, parts, img.Disk)
	return img
}

// makeDisk writes an ESP holding bootEFI as the removable-media boot path
// and the disk around it.
func makeDisk(t testing.TB, dir, bootEFI, seed string, parts []disk.Partition, out string) *disk.Layout {
	t.Helper()
	esp := filepath.Join(dir, "esp-"+filepath.Base(out)+".img")
	if err := disk.BuildESP(context.Background(), disk.ESPOptions{Out: esp, Size: 64 << 20, VolumeID: 0x6b65656c,
		Files: []disk.ESPFile{{Path: "EFI/BOOT/BOOTX64.EFI", Source: bootEFI}}, SourceDateEpoch: epoch}); err != nil {
		t.Fatal(err)
	}
	parts = append([]disk.Partition(nil), parts...)
	parts[0].Source = esp
	l, err := disk.Build(context.Background(), disk.Options{Out: out, Seed: seed, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
