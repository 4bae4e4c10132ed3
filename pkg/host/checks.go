package host

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/uki"
)

// Check is one host condition beyond tools.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do when not OK
	// Required: a failure stops builds (else it stops one command, e.g.
	// signing without a key).
	Required bool `json:"required"`
}

// managers in the order a host is asked for them.
var managers = []string{"apt-get", "dnf", "tdnf", "zypper", "pacman", "apk"}

// PackageManager is the host's package manager command, "" if none known.
func PackageManager() string {
	for _, m := range managers {
		if _, err := exec.LookPath(m); err == nil {
			return m
		}
	}
	return ""
}

// UserNamespaces checks that bubblewrap can make the build sandbox: as
// root it needs none; otherwise the kernel must allow unprivileged user
// namespaces, and a real bwrap run is the proof.
func UserNamespaces() Check {
	c := Check{Name: "user namespaces", Required: true}
	if max := readInt("/proc/sys/user/max_user_namespaces"); max == 0 {
		c.Detail = "user.max_user_namespaces is 0"
		c.Fix = "sysctl -w user.max_user_namespaces=15000"
		return c
	}
	if os.Getuid() != 0 && readInt("/proc/sys/kernel/unprivileged_userns_clone") == 0 {
		c.Detail = "kernel.unprivileged_userns_clone is 0: bubblewrap cannot sandbox builds without root"
		c.Fix = "sysctl -w kernel.unprivileged_userns_clone=1 (or run as root)"
		return c
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		c.Detail = "bwrap is missing (see the tools above)"
		return c
	}
	out, err := exec.Command("bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true").CombinedOutput()
	if err != nil {
		c.Detail = "bwrap could not make a sandbox: " + strings.TrimSpace(string(out))
		c.Fix = "allow user namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, AppArmor's kernel.apparmor_restrict_unprivileged_userns) or run as root"
		return c
	}
	c.OK, c.Detail = true, "bubblewrap makes a sandbox"
	return c
}

// readInt reads a one-number /proc file; -1 when absent or unreadable.
func readInt(p string) int {
	data, err := os.ReadFile(p)
	if err != nil {
		return -1
	}
	var n int
	if _, err := fmt.Sscan(string(bytes.TrimSpace(data)), &n); err != nil {
		return -1
	}
	return n
}

// DiskSpace checks the free space of the file system holding dir (or its
// nearest existing parent) against need bytes.
func DiskSpace(what, dir string, need uint64) Check {
	c := Check{Name: "disk space (" + what + ")", Required: true}
	p := dir
	for {
		if _, err := os.Stat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		p = filepath.Dir(p)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		c.Detail = fmt.Sprintf("%s: %v", dir, err)
		return c
	}
	free := st.Bavail * uint64(st.Bsize)
	c.Detail = fmt.Sprintf("%s free in %s (want %s)", gib(free), dir, gib(need))
	c.OK = free >= need
	if !c.OK {
		c.Fix = "free space there, or point it elsewhere (--cache, $KEEL_CACHE, --out)"
	}
	return c
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// Keys checks the signing key directory: the OpenPGP key signs packages,
// repositories and releases; the Secure Boot pair signs UKIs.
func Keys(dir string) []Check {
	k := Check{Name: "signing key", Detail: "OpenPGP key in " + dir}
	if _, err := pgp.LoadDir(dir); err != nil {
		k.Detail = firstLine(err.Error())
		k.Fix = "keel keys init"
	} else {
		k.OK = true
	}
	sb := Check{Name: "Secure Boot key", Detail: "Secure Boot pair in " + dir}
	for _, f := range []string{uki.SigningKeyFile, uki.SigningCertFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			sb.Detail = "no " + filepath.Join(dir, f) + ": bootable images get unsigned UKIs"
			sb.Fix = "keel keys init"
			return []Check{k, sb}
		}
	}
	sb.OK = true
	return []Check{k, sb}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return s
}
