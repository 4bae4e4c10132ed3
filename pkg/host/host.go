// Package host knows which host tools Keel drives and which Debian 12
// package provides each. scripts/setup installs from this list (through
// `keel doctor --packages`), and `keel doctor` reports what is missing, so
// the two can never disagree.
package host

import (
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Tool is one host requirement: a command on PATH or a file.
type Tool struct {
	Name    string // command name, or an absolute file path
	Package string // Debian package that provides it
	For     string // what Keel uses it for
	// Backports: the package comes from bookworm-backports.
	Backports bool
	// TestOnly: only Keel's own tests and benchmarks run it (cross-checks,
	// anchor tools, a browser); building and shipping a distribution do not.
	TestOnly bool
}

// Tools is everything Keel's pipelines and tests run.
var Tools = []Tool{
	{Name: "rpmbuild", Package: "rpm", For: "building packages"},
	{Name: "rpmspec", Package: "rpm", For: "reading specs (oracle for the native reader)", TestOnly: true},
	{Name: "rpm", Package: "rpm", For: "signature checks, rpmdb queries in tests"},
	{Name: "rpm2cpio", Package: "rpm2cpio", For: "unpacking build dependencies"},
	{Name: "cpio", Package: "cpio", For: "unpacking build dependencies"},
	{Name: "dpkg-deb", Package: "dpkg", For: "importing Debian binary packages"},
	{Name: "bwrap", Package: "bubblewrap", For: "the build sandbox"},
	{Name: "gcc", Package: "gcc", For: "compiling packages"},
	{Name: "make", Package: "make", For: "compiling packages"},
	{Name: "/usr/share/perl/5.36/IPC/Cmd.pm", Package: "perl", For: "OpenSSL's Configure (full perl, not perl-base)"},
	{Name: "patch", Package: "patch", For: "applying patches in %prep"},
	{Name: "yacc", Package: "byacc", For: "doas's parse.y (opendoas)"},
	{Name: "bzip2", Package: "bzip2", For: "unpacking sources"},
	{Name: "xz", Package: "xz-utils", For: "unpacking sources"},
	{Name: "unzip", Package: "unzip", For: "unpacking Go module zips (%setup)"},
	{Name: "zstd", Package: "zstd", For: "payload compression"},
	{Name: "file", Package: "file", For: "rpmbuild's file classifier"},
	{Name: "depmod", Package: "kmod", For: "kernel module dependency data"},
	{Name: "modprobe", Package: "kmod", For: "kernel module closures"},
	{Name: "dnf", Package: "dnf", For: "the repository acceptance tests (real consumer)", TestOnly: true},
	{Name: "createrepo_c", Package: "createrepo-c", For: "the repository benchmark (anchor tool)", TestOnly: true},
	{Name: "qemu-system-x86_64", Package: "qemu-system-x86", For: "boot tests"},
	{Name: "qemu-img", Package: "qemu-utils", For: "qcow2 and VHD images"},
	{Name: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", Package: "ovmf", For: "UEFI and Secure Boot under QEMU"},
	{Name: "veritysetup", Package: "cryptsetup-bin", For: "dm-verity cross-checks", TestOnly: true},
	{Name: "mkfs.erofs", Package: "erofs-utils", For: "read-only root filesystems"},
	{Name: "secilc", Package: "secilc", For: "compiling the SELinux policy (images with selinux:)"},
	{Name: "dump.erofs", Package: "erofs-utils", For: "reading SELinux labels back from erofs images", TestOnly: true},
	{Name: "mksquashfs", Package: "squashfs-tools", For: "squashfs roots"},
	{Name: "mkfs.ext4", Package: "e2fsprogs", For: "mutable root filesystems"},
	{Name: "debugfs", Package: "e2fsprogs", For: "reproducible ext4 inode times"},
	{Name: "skopeo", Package: "skopeo", For: "container image checks", TestOnly: true},
	{Name: "umoci", Package: "umoci", For: "container image checks", TestOnly: true},
	{Name: "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", Package: "systemd-boot-efi", For: "Unified Kernel Images"},
	{Name: "sbsign", Package: "sbsigntool", For: "Secure Boot signing"},
	{Name: "objcopy", Package: "binutils", For: "Unified Kernel Images"},
	{Name: "mkfs.vfat", Package: "dosfstools", For: "EFI system partitions"},
	{Name: "mcopy", Package: "mtools", For: "EFI system partitions"},
	{Name: "sgdisk", Package: "gdisk", For: "GPT checks", TestOnly: true},
	{Name: "oscap", Package: "openscap-scanner", For: "OVAL cross-checks", TestOnly: true},
	{Name: "/usr/bin/busybox", Package: "busybox-static", For: "tiny test roots in the boot tests", TestOnly: true},
	{Name: "chromium", Package: "chromium", For: "rendering the release dashboard in tests (a person's view)", TestOnly: true},
	{Name: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", Package: "fonts-dejavu-core", For: "legible dashboard screenshots", TestOnly: true},
	{Name: "bc", Package: "bc", For: "benchmark scripts", TestOnly: true},
	{Name: "perf", Package: "linux-perf", For: "CPU time in benchmark scripts (task-clock)", TestOnly: true},
	{Name: "faketime", Package: "faketime", For: "time-shifted tests", TestOnly: true},
	{Name: "cloud-localds", Package: "cloud-image-utils", For: "NoCloud seeds for keel boot --seed (the cloud users' tool)"},
	{Name: "genisoimage", Package: "genisoimage", For: "NoCloud and Azure provisioning media (ISO 9660)"},
	{Name: "ssh", Package: "openssh-client", For: "SSH login tests against the vm image", TestOnly: true},
	{Name: "ssh-keygen", Package: "openssh-client", For: "test keys and host key fingerprints", TestOnly: true},
	{Name: "virt-fw-vars", Package: "python3-virt-firmware", For: "enrolling Secure Boot keys", Backports: true},
}

// Missing returns the tools not present on this machine; required selects
// the ones a distribution build needs, else the test-only ones.
func Missing(required bool) []Tool {
	var out []Tool
	for _, t := range Tools {
		if t.TestOnly != required && !Present(t) {
			out = append(out, t)
		}
	}
	return out
}

// Present reports whether a tool is installed.
func Present(t Tool) bool {
	if strings.HasPrefix(t.Name, "/") {
		_, err := os.Stat(t.Name)
		return err == nil
	}
	_, err := exec.LookPath(t.Name)
	return err == nil
}

// Packages lists the Debian packages, sorted and unique; backports
// selects the bookworm-backports ones instead of the main-archive ones.
func Packages(backports bool) []string {
	set := map[string]bool{}
	for _, t := range Tools {
		if t.Backports == backports {
			set[t.Package] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// InstallCommand is what to run to get the missing tools, with the host's
// package manager (the names are Debian's: on another distribution they
// may differ, and the command says so).
func InstallCommand(missing []Tool) string {
	return installCommand(missing, PackageManager())
}

func installCommand(missing []Tool, pm string) string {
	var main, bpo []string
	seen := map[string]bool{}
	for _, t := range missing {
		if seen[t.Package] {
			continue
		}
		seen[t.Package] = true
		if t.Backports {
			bpo = append(bpo, t.Package)
		} else {
			main = append(main, t.Package)
		}
	}
	var cmds []string
	if len(main) > 0 {
		switch pm {
		case "apt-get", "":
			cmds = append(cmds, "apt-get install -y --no-install-recommends "+strings.Join(main, " "))
		default:
			cmds = append(cmds, pm+" install "+strings.Join(main, " ")+" (Debian's package names; "+pm+"'s may differ)")
		}
	}
	if len(bpo) > 0 {
		cmds = append(cmds, "scripts/setup (bookworm-backports: "+strings.Join(bpo, " ")+")")
	}
	return strings.Join(cmds, " && ")
}
