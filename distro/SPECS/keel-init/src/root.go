package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// rootMode is PID 1 on the real root.
func rootMode() {
	if err := mountAPI(); err != nil {
		fail(err)
	}
	if n, err := strconv.Atoi(os.Getenv("KEEL_FACTS")); err == nil && n > 0 {
		nFacts = n
	}
	os.Unsetenv("KEEL_FACTS")
	if t := os.Getenv("KEEL_TIMINGS"); t != "" {
		marks = strings.Fields(t)
	}
	os.Unsetenv("KEEL_TIMINGS")
	marks = append(marks, "init="+started)
	mark("init-api")
	fact("init.mode", "root")
	if err := selinuxSetup(); err != nil {
		fail(err)
	}
	hostname := "keel"
	if b, err := os.ReadFile("/etc/hostname"); err == nil && len(bytes.TrimSpace(b)) > 0 {
		hostname = string(bytes.TrimSpace(b))
	}
	if err := syscall.Sethostname([]byte(hostname)); err != nil {
		logf("sethostname: %v", err)
	}
	sv := bootSystem() // system.go: modules, sysctl, firewall, network, services
	reportFacts()
	mark("facts")
	runHealthChecks("/usr/lib/keel/health.d")
	mark("health")
	sv.report()
	selinuxDenials()
	// Seconds since boot (CLOCK_BOOTTIME) at each step: where boot time goes.
	fact("boot.timings", strings.Join(marks, " "))
	status(true, "")
	go sv.watch()
	go watchFirewall()

	raw, args := cmdline()
	_ = raw
	switch args["keel.after"] {
	case "poweroff":
		shutdown(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	case "reboot":
		shutdown(syscall.LINUX_REBOOT_CMD_RESTART)
	}
	supervise()
}

// reportFacts prints raw observations; it judges nothing.
func reportFacts() {
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		fact("kernel.release", cstr(u.Release[:]))
	}
	raw, _ := cmdline()
	fact("kernel.cmdline", raw)
	src, fstype, opts := rootMount()
	fact("root.source", src)
	fact("root.fstype", fstype)
	fact("root.options", opts)
	fact("root.write", tryWrite("/"))
	fact("lsm", readTrim("/sys/kernel/security/lsm"))
	reportIPE()
	fact("fips_enabled", readTrim("/proc/sys/crypto/fips_enabled"))
	if st, err := dmStatus("root", false); err == nil {
		fact("dm.root.status", st)
		if tb, err := dmStatus("root", true); err == nil {
			fact("dm.root.table", tb)
		}
	} else {
		fact("dm.root.status", "absent: "+errText(err))
	}
	if h, err := os.Hostname(); err == nil {
		fact("hostname", h)
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VERSION_ID="); ok {
				fact("os.version_id", strings.Trim(v, `"`))
			}
			if v, ok := strings.CutPrefix(l, "ID="); ok {
				fact("os.id", strings.Trim(v, `"`))
			}
		}
	}
	fact("uptime", strings.Fields(readTrim("/proc/uptime") + " ?")[0])
}

// marks are "step=seconds since boot" (CLOCK_BOOTTIME), carried from the
// initramfs to the root in the environment.
var marks []string

// started is when this process's Go code began (package init).
var started = uptime()

func uptime() string {
	var ts syscall.Timespec
	const clockBoottime = 7
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockBoottime, uintptr(unsafe.Pointer(&ts)), 0)
	return strconv.FormatFloat(float64(ts.Nano())/1e9, 'f', 3, 64)
}

func mark(step string) { marks = append(marks, step+"="+uptime()) }

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "unreadable: " + errText(err)
	}
	return strings.TrimSpace(string(b))
}

// errText is the errno name (EROFS, ENOENT, ...) when there is one.
func errText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if n, ok := errnoNames[en]; ok {
			return n
		}
		return "errno " + strconv.Itoa(int(en))
	}
	return err.Error()
}

var errnoNames = map[syscall.Errno]string{
	syscall.EROFS: "EROFS", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT",
	syscall.EKEYREJECTED: "EKEYREJECTED", syscall.ENOKEY: "ENOKEY", syscall.EBADMSG: "EBADMSG",
	syscall.ENXIO: "ENXIO", syscall.ENODEV: "ENODEV", syscall.ENOSPC: "ENOSPC", syscall.EIO: "EIO",
	syscall.EINVAL: "EINVAL", syscall.EBUSY: "EBUSY",
}

// tryWrite creates and removes a file in dir: "ok" or the errno.
func tryWrite(dir string) string {
	p := filepath.Join(dir, ".keel-write-probe")
	fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_EXCL, 0o600)
	if err != nil {
		return errText(err)
	}
	syscall.Close(fd)
	syscall.Unlink(p)
	return "ok"
}

// rootMount returns the source, type and options (mount plus superblock
// options) of "/" from /proc/self/mountinfo.
func rootMount() (src, fstype, opts string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 || f[4] != "/" {
			continue
		}
		// The last "/" line is the one on top.
		src, fstype, opts = unescapeMount(g[1]), g[0], f[5]+" "+g[2]
	}
	return
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}

// runHealthChecks runs each executable in dir (sorted) with an empty
// environment and reports its exit status and output as facts.
func runHealthChecks(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, n))
		cmd.Env = []string{} // nothing inherited can fake a result
		cmd.Dir = "/"
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := inDomain("keel_health_t", cmd.Run) // observers: see distro/selinux/services/keel_health.cil
		out := buf.Bytes()
		cancel()
		code := exitStatus(err)
		if code == -1 {
			out = append(out, []byte(err.Error())...)
		}
		if len(out) > 4096 {
			out = out[:4096]
		}
		fact("health."+n+".exit", strconv.Itoa(code))
		fact("health."+n+".output", strings.TrimSpace(string(out)))
	}
}

// supervise reaps orphans and obeys SIGTERM (reboot), SIGUSR2 (power off),
// SIGUSR1 (halt).
func supervise() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGTERM:
			shutdown(syscall.LINUX_REBOOT_CMD_RESTART)
		case syscall.SIGUSR2:
			shutdown(syscall.LINUX_REBOOT_CMD_POWER_OFF)
		case syscall.SIGUSR1:
			shutdown(syscall.LINUX_REBOOT_CMD_HALT)
		case syscall.SIGCHLD:
			reapOrphans() // services.go: leaves the children it supervises to their Wait
		}
	}
}

func shutdown(cmd int) {
	syscall.Kill(-1, syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(-1, syscall.SIGKILL)
	syscall.Sync()
	syscall.Mount("", "/", "", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	if err := syscall.Reboot(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "keel-init: reboot:", err)
	}
	select {}
}
