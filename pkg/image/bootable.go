package image

// Bootable outputs: from the composed root, a UKI (the root's kernel, an
// initramfs with keel-init as /init and the root's modules) on an ESP, and a
// GPT disk with either a writable ext4 root (vm, hwe) or a read-only erofs
// root under dm-verity whose root hash travels in the UKI's command line,
// signed with the distro key and verified by keel-init against the public
// key embedded in the initramfs (guard).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/disk"
	"github.com/keel-linux/keel/pkg/initramfs"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/rootfs"
	"github.com/keel-linux/keel/pkg/selinux"
	"github.com/keel-linux/keel/pkg/uki"
	"github.com/keel-linux/keel/pkg/verity"
)

// BootInfo is what the boot harness asserts a bootable image against.
type BootInfo struct {
	KernelRelease  string   `json:"kernel_release"`
	Cmdline        string   `json:"cmdline"`
	RootFilesystem string   `json:"root_filesystem"` // ext4 | erofs
	RootPartUUID   string   `json:"root_partuuid"`
	RootHash       string   `json:"root_hash,omitempty"` // dm-verity (guard)
	SecureBoot     bool     `json:"secure_boot"`         // the UKI is signed
	IPE            *IPEInfo `json:"ipe,omitempty"`       // the IPE policy keel-init deploys
}

const espVolumeID = 0x6b65656c // "keel"

// bootLayout is what the definition's partitions ask for.
type bootLayout struct {
	espSize, rootSize int64
	rootLabel         string
	rootFS            string // ext4 | erofs
	verity            bool
}

func planBoot(d *Definition) (bootLayout, error) {
	l := bootLayout{espSize: 64 << 20, rootLabel: "root", rootFS: "ext4"}
	if d.Kernel != nil {
		listed := false
		for _, p := range d.Packages {
			listed = listed || p == d.Kernel.Package
		}
		if !listed {
			return l, ferr("kernel.package", "%q is not in packages: list it there too", d.Kernel.Package)
		}
	}
	var haveRoot bool
	for i, p := range d.Partitions {
		field := fmt.Sprintf("partitions[%d]", i)
		switch p.Type {
		case "esp":
			if p.Filesystem != "" && p.Filesystem != "vfat" {
				return l, ferr(field+".filesystem", "%q: an ESP is vfat", p.Filesystem)
			}
			if p.Size != "" {
				n, err := parseSize(p.Size)
				if err != nil {
					return l, ferr(field+".size", "%v", err)
				}
				l.espSize = n
			}
		case "root":
			if haveRoot {
				return l, ferr(field, "a second root partition")
			}
			haveRoot = true
			l.rootLabel = p.Label
			switch p.Filesystem {
			case "", "ext4":
				l.rootFS = "ext4"
			case "erofs":
				l.rootFS = "erofs"
			default:
				return l, ferr(field+".filesystem", "%q: a bootable root is ext4 or erofs", p.Filesystem)
			}
			if p.Size != "" {
				n, err := parseSize(p.Size)
				if err != nil {
					return l, ferr(field+".size", "%v", err)
				}
				l.rootSize = n
			}
			l.verity = p.Verity
			if p.Verity && l.rootFS != "erofs" {
				return l, ferr(field+".verity", "dm-verity needs a read-only erofs root")
			}
			if l.rootFS == "ext4" && p.ReadOnly {
				return l, ferr(field+".readonly", "a read-only root is erofs")
			}
		default:
			return l, ferr(field+".type", "%q: bootable images support esp and root partitions only", p.Type)
		}
	}
	if l.rootFS == "erofs" && !l.verity {
		return l, errors.New("partitions: an erofs root must have verity: true (keel boots no unverified read-only root)")
	}
	return l, nil
}

// parseSize reads 512M, 2G, 65536 (bytes), 64K.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	switch {
	case strings.HasSuffix(s, "K"):
		mult, num = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, num = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, num = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<44)/mult {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M or G suffix", s)
	}
	return n * mult, nil
}

// kernelIn finds the one kernel installed in the image (kernel-install
// layout); the paths are inside r.
func kernelIn(r *os.Root) (release, vmlinuz, modules string, err error) {
	found, _ := fs.Glob(r.FS(), "usr/lib/modules/*/vmlinuz")
	if len(found) != 1 {
		return "", "", "", fmt.Errorf("want exactly one kernel at /usr/lib/modules/<release>/vmlinuz in the root, found %d (is the kernel package installed?)", len(found))
	}
	modules = path.Dir(found[0])
	if _, err := r.Stat(path.Join(modules, "modules.dep")); err != nil {
		return "", "", "", fmt.Errorf("kernel %s has no modules.dep: %w", path.Base(modules), err)
	}
	return path.Base(modules), found[0], modules, nil
}

// checkBootOptions refuses a build that could not finish, before any work.
func checkBootOptions(d *Definition, opt Options) error {
	l, err := planBoot(d)
	if err != nil {
		return err
	}
	if l.verity && opt.Key == nil {
		return errors.New("a verity root needs the distro signing key (Options.Key, keel image build --keys) to sign its root hash")
	}
	if (opt.SecureBootKey == "") != (opt.SecureBootCert == "") {
		return errors.New("Secure Boot signing needs both a key and a certificate")
	}
	if l.verity && opt.SecureBootKey == "" {
		return errors.New("a verity root is only trustworthy with a signed UKI: give a Secure Boot key and certificate (--secureboot-key, --secureboot-cert)")
	}
	for _, p := range []string{opt.SecureBootKey, opt.SecureBootCert} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("Secure Boot: %w", err)
			}
		}
	}
	return nil
}

func runEnv(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// dirBytes sums regular file sizes and counts entries (for sizing ext4).
func dirBytes(r *os.Root) (int64, int, error) {
	var n int64
	var c int
	err := fs.WalkDir(r.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		c++
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += (fi.Size() + 4095) &^ 4095
		}
		return nil
	})
	return n, c, err
}

// writeBootable builds the disk and the UKI from the image root r (at
// rootDir, for mkfs) into stage and records them in man. What it reads from
// the image (kernel, keel-init, modules, os-release) it reads through r;
// the kernel and keel-init are copied out for the UKI and initramfs tools.
func writeBootable(ctx context.Context, d *Definition, opt Options, r *os.Root, rootDir, stage string, man *Manifest, sde int64) error {
	l, err := planBoot(d)
	if err != nil {
		return err
	}
	release, kernel, modDir, err := kernelIn(r)
	if err != nil {
		return err
	}
	if err := checkSELinuxKernel(d, r, modDir); err != nil {
		return err
	}
	if opt.SecureBootKey != "" {
		if err := checkModuleSignatures(r, modDir); err != nil {
			return err
		}
	}
	if _, err := readIn(r, "/usr/sbin/keel-init", 0); err != nil {
		return errors.New("the root has no /usr/sbin/keel-init (install keel-init): it is the initramfs /init")
	}
	osRelease, err := readIn(r, "/usr/lib/os-release", 1<<20)
	if err != nil {
		if osRelease, err = readIn(r, "/etc/os-release", 1<<20); err != nil {
			return errors.New("the root has no os-release (install keel-release)")
		}
	}
	seed := "keel-image/" + d.Name
	work, err := os.MkdirTemp(stage, ".boot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	initBin, vmlinuz := filepath.Join(work, "keel-init"), filepath.Join(work, "vmlinuz")
	if err := copyOut(r, "/usr/sbin/keel-init", initBin); err != nil {
		return err
	}
	if err := copyOut(r, "/"+kernel, vmlinuz); err != nil {
		return err
	}
	// The kernel and modules stay in the root too: rpm -V stays clean.
	rootImg := filepath.Join(work, "root.img")
	espPart := disk.Partition{Name: "esp", Type: disk.TypeESP, Size: l.espSize}
	var parts []disk.Partition
	info := &BootInfo{KernelRelease: release, RootFilesystem: l.rootFS}
	var rootHash verity.RootHash
	log := logctx.FromContext(ctx)
	log.Info("writing the root filesystem", "fs", l.rootFS)
	if l.rootFS == "erofs" {
		args := []string{"--quiet", "-T", strconv.FormatInt(sde, 10), "-U", disk.SeededGUID(seed, "erofs").String(), "--all-root"}
		if d.wantSELinux() {
			fc := filepath.Join(work, "file_contexts")
			if err := copyOut(r, selinux.FileContextsPath, fc); err != nil {
				return err
			}
			args = append(args, "--file-contexts="+fc)
		}
		if err := runEnv(ctx, nil, "mkfs.erofs", append(args, rootImg, rootDir)...); err != nil {
			return fmt.Errorf("root filesystem: %w", err)
		}
		f, err := os.Open(rootImg)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		if l.rootSize > 0 && fi.Size() > l.rootSize {
			f.Close()
			return fmt.Errorf("partitions: root: the erofs image is %d bytes, more than size %d", fi.Size(), l.rootSize)
		}
		hashPath := filepath.Join(work, "root.verity")
		hf, err := os.Create(hashPath)
		if err != nil {
			f.Close()
			return err
		}
		salt := sha256.Sum256([]byte(seed + "/verity-salt"))
		p, err := verity.Format(ctx, f, fi.Size(), hf, verity.Options{Salt: salt[:], UUID: disk.SeededGUID(seed, "verity")})
		f.Close()
		if cerr := hf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("dm-verity: %w", err)
		}
		rootHash = p.RootHash
		info.RootHash = rootHash.String()
		parts = []disk.Partition{espPart,
			{Name: l.rootLabel, Type: disk.TypeRootX86_64, Source: rootImg, Attributes: 1 << 60},
			{Name: l.rootLabel + "-verity", Type: disk.TypeVerityX86_64, Source: hashPath, Attributes: 1 << 60}}
	} else {
		size := l.rootSize
		if size == 0 {
			n, c, err := dirBytes(r)
			if err != nil {
				return err
			}
			// Content, inode tables and some room to write.
			size = (n+int64(c)*512)*5/4 + 32<<20
			size = (size + disk.Align - 1) / disk.Align * disk.Align
		}
		if err := runEnv(ctx, []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(sde, 10)}, "mkfs.ext4", "-q", "-F", "-d", rootDir,
			"-U", disk.SeededGUID(seed, "ext4").String(), "-E", "hash_seed="+disk.SeededGUID(seed, "ext4-hash").String()+",root_owner=0:0",
			"-O", "^has_journal", "-L", "keel-root", rootImg, strconv.FormatInt(size/1024, 10)+"k"); err != nil {
			return fmt.Errorf("root filesystem (%d bytes): %w", size, err)
		}
		if err := clampExt4Times(ctx, rootImg, r, sde, d.wantSELinux()); err != nil {
			return fmt.Errorf("root filesystem: %w", err)
		}
		parts = []disk.Partition{espPart, {Name: l.rootLabel, Type: disk.TypeRootX86_64, Source: rootImg, Size: size}}
	}
	plan, err := disk.Plan(disk.Options{Seed: seed, Partitions: parts})
	if err != nil {
		return err
	}
	rp, _ := plan.Find(l.rootLabel)
	info.RootPartUUID = rp.GUID.String()
	cmdline := append(append([]string(nil), d.Kernel.Cmdline...), selinuxCmdline(d)...)
	cmdline = append(cmdline, "keel.root=PARTUUID="+rp.GUID.String(), "keel.rootfstype="+l.rootFS)
	modules := []string{"virtio_pci", "virtio_blk"}
	var verityKeys [][]byte
	if l.verity {
		hp, _ := plan.Find(l.rootLabel + "-verity")
		sig := opt.Key.SignRaw(rootHash.SignedMessage())
		cmdline = append(cmdline, "ro", "keel.verity=PARTUUID="+hp.GUID.String(), "keel.roothash="+rootHash.String(),
			"keel.roothash.sig="+verity.SignatureParam(sig))
		modules = append(modules, "dm-verity", "erofs")
		pem, err := verity.PublicKeyPEM(opt.Key.Ed25519PublicKey())
		if err != nil {
			return err
		}
		verityKeys = [][]byte{pem}
	} else {
		cmdline = append(cmdline, "rw")
	}
	info.Cmdline = strings.Join(cmdline, " ")

	// zstd: the initramfs only travels inside the UKI, which the firmware
	// reads and (under Secure Boot) hashes byte by byte.
	initrd := filepath.Join(work, "initrd.cpio.zst")
	// On a verity root whose /sbin/init is this same keel-init, the
	// initramfs's copy goes on as PID 1 (keel-init: sameInit).
	var extra []initramfs.File
	if l.verity {
		f, err := kernelRootHashSig(r, modDir, opt, rootHash)
		if err != nil {
			return err
		}
		extra = append(extra, f)
		pf, err := ipePolicy(d, r, modDir, opt, info)
		if err != nil {
			return err
		}
		extra = append(extra, pf...)
		p, err1 := rootfs.Resolve(r, "sbin/init")
		q, err2 := rootfs.Resolve(r, "usr/sbin/keel-init")
		if err1 == nil && err2 == nil && p == q {
			extra = append(extra, initramfs.File{Path: "/etc/keel/same-init", Data: []byte("/sbin/init\n")})
		}
	}
	log.Info("writing the initramfs and UKI", "kernel", release)
	if err := initramfs.WriteFile(ctx, initramfs.Options{Init: initBin, ModulesDir: modDir, ModulesFS: r.FS(), Modules: modules,
		VerityKeys: verityKeys, Files: extra, SourceDateEpoch: sde, Compression: "zstd", Release: osRelease}, initrd); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	efi := filepath.Join(work, "keel.efi")
	if err := uki.Build(ctx, uki.Options{Kernel: vmlinuz, Initrd: initrd, Cmdline: info.Cmdline, OSRelease: osRelease, Out: efi}); err != nil {
		return fmt.Errorf("UKI: %w", err)
	}
	if opt.SecureBootKey != "" {
		signed := filepath.Join(work, "keel.signed.efi")
		if err := uki.Sign(ctx, efi, signed, uki.SignOptions{Key: opt.SecureBootKey, Cert: opt.SecureBootCert, SourceDateEpoch: sde}); err != nil {
			return fmt.Errorf("UKI: %w", err)
		}
		efi = signed
		info.SecureBoot = true
	}
	log.Info("writing the disk", "outputs", len(d.Outputs))
	esp := filepath.Join(work, "esp.img")
	if err := disk.BuildESP(ctx, disk.ESPOptions{Out: esp, Size: l.espSize, VolumeID: espVolumeID,
		Files: []disk.ESPFile{{Path: "EFI/BOOT/BOOTX64.EFI", Source: efi}}, SourceDateEpoch: sde}); err != nil {
		return fmt.Errorf("ESP: %w", err)
	}
	parts[0].Source = esp
	rawDisk := filepath.Join(work, "disk.raw")
	if _, err := disk.Build(ctx, disk.Options{Out: rawDisk, Seed: seed, Partitions: parts}); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	man.Boot = info
	for _, o := range d.Outputs {
		var p string
		switch o.Format {
		case "raw":
			p = filepath.Join(stage, d.Name+".raw")
			err = os.Rename(rawDisk, p)
			if err == nil {
				// Later formats convert from the published raw image.
				rawDisk = p
			}
		case "qcow2":
			p = filepath.Join(stage, d.Name+".qcow2")
			err = disk.Convert(ctx, rawDisk, p, disk.Qcow2, seed, sde)
		case "vhd":
			p = filepath.Join(stage, d.Name+".vhd")
			err = disk.Convert(ctx, rawDisk, p, disk.VHD, seed, sde)
		case "uki":
			p = filepath.Join(stage, d.Name+".efi")
			err = copyPath(efi, p)
		default:
			err = fmt.Errorf("%q is a container format; this is a bootable image", o.Format)
		}
		if err != nil {
			return fmt.Errorf("output %s: %w", o.Format, err)
		}
		fi, err := fileInfo(p)
		if err != nil {
			return err
		}
		fi.Format, fi.Path = o.Format, filepath.Base(p)
		man.Outputs = append(man.Outputs, fi)
	}
	return nil
}

// moduleSigMagic ends a module with an appended signature (kernel
// scripts/sign-file).
const moduleSigMagic = "~Module signature appended~\n"

// checkModuleSignatures refuses unsigned modules in a Secure Boot image: its
// kernel is locked down and would refuse them at boot, far from the cause
// (rpm's brp-strip removes the signatures if the kernel package lets it).
func checkModuleSignatures(r *os.Root, modDir string) error {
	return fs.WalkDir(r.FS(), modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".ko") {
			return err
		}
		f, err := r.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		tail := make([]byte, len(moduleSigMagic))
		rel := strings.TrimPrefix(p, modDir+"/")
		if fi.Size() < int64(len(tail)) {
			return fmt.Errorf("kernel module %s: truncated", rel)
		}
		if _, err := f.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
			return err
		}
		if string(tail) != moduleSigMagic {
			return fmt.Errorf("kernel module %s has no appended signature: a Secure Boot (locked down) kernel refuses it (was it stripped when packaged?)", rel)
		}
		return nil
	})
}

func copyPath(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
