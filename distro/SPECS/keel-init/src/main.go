// keel-init is PID 1 of Keel Linux.
//
// In the initramfs ("initrd mode", recognised by /etc/initrd-release) it loads
// the kernel modules listed in /etc/keel/modules, finds the root partition by
// its GPT PARTUUID, sets up dm-verity through the device-mapper ioctls with
// the root hash signature for the kernel to check (keyring.go; without UEFI
// it checks the Ed25519 signature against /etc/keel/verity.pub itself),
// mounts the root and switches to it.
//
// On the real root ("root mode") it mounts the API filesystems, sets the
// hostname, reports raw facts on the console, runs the health checks in
// /usr/lib/keel/health.d and then reaps orphans until asked to stop
// (SIGTERM reboots, SIGUSR2 powers off, like busybox init).
//
// Facts are machine-readable console lines the boot harness asserts:
//
//	KEEL-FACT <key>=<value>         value is Go-quoted when not plain
//	KEEL-STATUS ok facts=<n>        the report is complete (not a verdict)
//	KEEL-STATUS fail reason=<quoted> boot stopped; the machine powers off
//
// This program is stdlib-only: it is compiled offline inside rpmbuild.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var (
	factMu sync.Mutex
	nFacts int
)

// fact prints one KEEL-FACT line in a single write so kernel messages cannot
// split it.
func fact(key, value string) {
	factMu.Lock()
	defer factMu.Unlock()
	nFacts++
	os.Stdout.Write([]byte("KEEL-FACT " + key + "=" + quoteIfNeeded(value) + "\n"))
}

func status(ok bool, reason string) {
	factMu.Lock()
	defer factMu.Unlock()
	if ok {
		os.Stdout.Write([]byte("KEEL-STATUS ok facts=" + strconv.Itoa(nFacts) + "\n"))
		return
	}
	os.Stdout.Write([]byte("KEEL-STATUS fail reason=" + strconv.Quote(reason) + "\n"))
}

func quoteIfNeeded(v string) string {
	if v == "" {
		return `""`
	}
	if v[0] == '"' {
		return strconv.Quote(v)
	}
	for _, r := range v {
		if r < 0x20 || r > 0x7e || r == '\\' {
			return strconv.Quote(v)
		}
	}
	return v
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "keel-init: "+format+"\n", a...)
}

// cmdline returns the keel.* (and other key=value) parameters of /proc/cmdline.
func cmdline() (string, map[string]string) {
	b, _ := os.ReadFile("/proc/cmdline")
	raw := strings.TrimSpace(string(b))
	m := map[string]string{}
	for _, f := range strings.Fields(raw) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return raw, m
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "keel-init: must run as PID 1")
		os.Exit(2)
	}
	if _, err := os.Stat("/etc/initrd-release"); err == nil {
		if err := initrd(); err != nil {
			fail(err)
		}
		return // not reached: initrd execs the real init
	}
	rootMode()
}

// fail reports why the boot stopped and powers off: PID 1 must not exit,
// and a half-booted system must never look like a good one.
func fail(err error) {
	status(false, err.Error())
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
