package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// IPE (Integrity Policy Enforcement): the image's signed policy, carried in
// the signed initramfs, is loaded and activated before the root's init runs.
// /etc/keel/ipe.conf holds "name=<policy name>" and "mode=audit|enforce";
// /etc/keel/ipe.p7s the PKCS#7 signed policy, which the kernel checks against
// its secondary and platform keyrings.
const (
	ipeConf   = "/etc/keel/ipe.conf"
	ipePolicy = "/etc/keel/ipe.p7s"
	ipeFS     = "/sys/kernel/security/ipe"

	capMacAdmin   = 33
	prCapbsetDrop = 24
)

// ipeLocked is set once an enforcing policy is active: CAP_MAC_ADMIN leaves
// the bounding set when the root's init is exec'd, so no process started
// after it (root included) can load a policy, change the active one or switch
// IPE to permissive.
var ipeLocked bool

// deployIPE loads, activates and sets the mode of the initramfs's policy;
// without one it does nothing. Booted without UEFI no keyring holds the
// distro key, so the kernel refuses the policy; that boot goes on without IPE
// and says so (as the root hash check falls back, docs/boot.md).
func deployIPE() error {
	b, err := os.ReadFile(ipeConf)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	conf := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			conf[k] = v
		}
	}
	name, mode := conf["name"], conf["mode"]
	if name == "" || strings.ContainsAny(name, "/ ") || name[0] == '.' || (mode != "audit" && mode != "enforce") {
		return fmt.Errorf("%s: want name=<policy> and mode=audit|enforce", ipeConf)
	}
	if _, err := os.Stat(ipeFS); err != nil {
		return fmt.Errorf("the image asks for IPE, but the kernel has none at %s (is ipe in lsm=?): %w", ipeFS, err)
	}
	policy, err := os.ReadFile(ipePolicy)
	if err != nil {
		return err
	}
	if err := writeSecurityfs("new_policy", policy); err != nil {
		if _, efi := os.Stat("/sys/firmware/efi"); efi != nil {
			fact("initrd.ipe", "unavailable: booted without UEFI, the kernel has no key for the policy ("+errText(err)+")")
			return nil
		}
		fact("initrd.ipe", "refused")
		return fmt.Errorf("the kernel refused the IPE policy %s: %w", name, err)
	}
	if err := writeSecurityfs("policies/"+name+"/active", []byte("1")); err != nil {
		return fmt.Errorf("activating IPE policy %s: %w", name, err)
	}
	enforce := "0"
	if mode == "enforce" {
		enforce, ipeLocked = "1", true
	}
	if err := writeSecurityfs("enforce", []byte(enforce)); err != nil {
		return fmt.Errorf("IPE mode %s: %w", mode, err)
	}
	fact("initrd.ipe", "active")
	mark("ipe")
	return nil
}

func writeSecurityfs(rel string, b []byte) error {
	f, err := os.OpenFile(filepath.Join(ipeFS, rel), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mustExec says the root's init must be exec'd even when it is this binary
// (switchRoot's sameInit): the capability bounding set is per thread and Go's
// threads cannot all be changed (AllThreadsSyscall refuses with cgo linked),
// but an exec from one thread gives the whole new process its set.
func mustExec() bool { return ipeLocked }

// execInit execs the root's init, without CAP_MAC_ADMIN once IPE enforces.
func execInit(init string, argv, env []string) error {
	runtime.LockOSThread()
	if ipeLocked {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, capMacAdmin, 0); e != 0 {
			return fmt.Errorf("dropping CAP_MAC_ADMIN from the bounding set: %w", e)
		}
	}
	return syscall.Exec(init, argv, env)
}

// reportIPE: the IPE mode, the active policy and whether this process may
// still administer it.
func reportIPE() {
	switch readTrim(filepath.Join(ipeFS, "enforce")) {
	case "1":
		fact("ipe.mode", "enforce")
	case "0":
		fact("ipe.mode", "audit")
	default:
		fact("ipe.mode", "absent")
	}
	active := "none"
	dirs, _ := filepath.Glob(filepath.Join(ipeFS, "policies", "*"))
	for _, d := range dirs {
		if readTrim(filepath.Join(d, "active")) == "1" {
			active = readTrim(filepath.Join(d, "name")) + " " + readTrim(filepath.Join(d, "version"))
		}
	}
	fact("ipe.policy", active)
	fact("cap.bounding.mac_admin", capBounding(capMacAdmin))
}

// capBounding reads one capability of this process's bounding set.
func capBounding(bit uint) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unreadable: " + errText(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				break
			}
			if n&(1<<bit) != 0 {
				return "present"
			}
			return "dropped"
		}
	}
	return "unknown"
}
