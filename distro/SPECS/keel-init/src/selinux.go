package main

// SELinux on the real root. The image build (keel image build, the image's
// selinux: key) installs /etc/selinux/config, the binary policy and its file
// contexts and labels every file of the root. keel-init, before any health
// check or service runs, mounts selinuxfs, loads the policy (the first load
// needs no permission; every later one needs security:load_policy, which no
// domain of Keel's policy holds), switches to enforcing when the image asks
// for it and the kernel is not already, and labels /dev (devtmpfs nodes
// exist before any policy). PID 1 stays in kernel_t and starts each child
// in its own domain through /proc/thread-self/attr/exec (inDomain).

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	selinuxConfig       = "/etc/selinux/config"
	selinuxPolicyFile   = "/etc/selinux/keel/policy/policy.33"
	selinuxFileContexts = "/etc/selinux/keel/contexts/files/file_contexts"
	selinuxFS           = "/sys/fs/selinux"
)

// selinuxLoaded is set once the policy is in the kernel.
var selinuxLoaded bool

// selinuxMode is SELINUX= of /etc/selinux/config: disabled when absent.
func selinuxMode() string {
	b, err := os.ReadFile(selinuxConfig)
	if err != nil {
		return "disabled"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "SELINUX="); ok {
			return strings.TrimSpace(v)
		}
	}
	return "disabled"
}

// selinuxSetup loads the policy and reports what the kernel now enforces.
// An image that asks for SELinux and does not get it stops the boot: a host
// must never run unprotected and report success.
func selinuxSetup() error {
	mode := selinuxMode()
	fact("selinux.mode", mode)
	switch mode {
	case "disabled":
		return nil
	case "permissive", "enforcing":
	default:
		return fmt.Errorf("%s: SELINUX=%q: want disabled, permissive or enforcing", selinuxConfig, mode)
	}
	lsm := readTrim("/sys/kernel/security/lsm")
	if !strings.Contains(","+lsm+",", ",selinux,") {
		return fmt.Errorf("SELinux %s is asked for (%s) but the kernel did not start it (active LSMs: %s)", mode, selinuxConfig, lsm)
	}
	if err := syscall.Mount("selinuxfs", selinuxFS, "selinuxfs", syscall.MS_NOSUID|syscall.MS_NOEXEC, ""); err != nil && err != syscall.EBUSY {
		return fmt.Errorf("mount selinuxfs: %w", err)
	}
	pol, err := os.ReadFile(selinuxPolicyFile)
	if err != nil {
		return fmt.Errorf("SELinux policy: %w", err)
	}
	if err := writeOnce(selinuxFS+"/load", pol); err != nil {
		return fmt.Errorf("loading the SELinux policy %s: %w", selinuxPolicyFile, err)
	}
	selinuxLoaded = true
	sum := sha256.Sum256(pol)
	fact("selinux.policy.sha256", hex.EncodeToString(sum[:]))
	if mode == "enforcing" && readTrim(selinuxFS+"/enforce") != "1" {
		// Only when a loader dropped enforcing=1: the kernel is permissive
		// until this write, so it succeeds (and is logged).
		if err := writeOnce(selinuxFS+"/enforce", []byte("1")); err != nil {
			return fmt.Errorf("SELinux: switching to enforcing: %w", err)
		}
	}
	if err := labelDev(); err != nil {
		return fmt.Errorf("SELinux: labelling /dev: %w", err)
	}
	selinuxFacts(mode)
	return nil
}

// selinuxFacts reports the kernel's view, and under enforcing tries, as PID
// 1 (the most privileged domain), what an attacker with root would: turn
// enforcing off and replace the policy. Both must be refused.
func selinuxFacts(mode string) {
	fact("selinux.enforce", readTrim(selinuxFS+"/enforce"))
	fact("selinux.policyvers", readTrim(selinuxFS+"/policyvers"))
	fact("selinux.context", strings.TrimRight(readTrim("/proc/self/attr/current"), "\x00"))
	fact("selinux.init_label", fileLabel("/usr/sbin/init"))
	if mode != "enforcing" {
		return
	}
	fact("selinux.setenforce0", writeResult(selinuxFS+"/enforce", []byte("0")))
	pol, _ := os.ReadFile(selinuxPolicyFile)
	fact("selinux.reload", writeResult(selinuxFS+"/load", pol))
	fact("selinux.enforce.after", readTrim(selinuxFS+"/enforce"))
}

func writeResult(p string, b []byte) string {
	if err := writeOnce(p, b); err != nil {
		return errText(err)
	}
	return "ok"
}

// writeOnce writes b in a single write(2), as selinuxfs wants.
func writeOnce(p string, b []byte) error {
	fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	n, err := syscall.Write(fd, b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(b))
	}
	return err
}

// fileLabel is a file's security.selinux (following links).
func fileLabel(p string) string {
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(p, "security.selinux", buf)
	if err != nil {
		return "unreadable: " + errText(err)
	}
	return strings.TrimRight(string(buf[:n]), "\x00")
}

// inDomain calls start, which starts one process, with that process's
// exec into SELinux type domain (system_u:system_r:DOMAIN): the attribute
// is per thread, so the goroutine holds its thread from the write to the
// fork, and clears it after. Without a loaded policy it just calls start.
func inDomain(domain string, start func() error) error {
	if !selinuxLoaded || domain == "" {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const attr = "/proc/thread-self/attr/exec"
	if err := writeOnce(attr, []byte("system_u:system_r:"+domain)); err != nil {
		return fmt.Errorf("SELinux domain %s: %w", domain, err)
	}
	defer writeOnce(attr, []byte("\n"))
	return start()
}

// fileContext is one line of file_contexts: REGEX [-TYPE] CONTEXT.
type fileContext struct {
	re      *regexp.Regexp
	kind    string
	context string
}

// parseFileContexts reads what secilc wrote (pkg/selinux reads the same
// format at image build); a bad line is an error with its number.
func parseFileContexts(data string) ([]fileContext, error) {
	var out, plain []fileContext
	for i, l := range strings.Split(data, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var fc fileContext
		switch len(f) {
		case 2:
			fc.context = f[1]
		case 3:
			fc.kind, fc.context = f[1], f[2]
		default:
			return nil, fmt.Errorf("file_contexts:%d: want REGEX [-TYPE] CONTEXT", i+1)
		}
		re, err := regexp.Compile("^(?:" + f[0] + ")$")
		if err != nil {
			return nil, fmt.Errorf("file_contexts:%d: %v", i+1, err)
		}
		fc.re = re
		// As libselinux: literal paths after expressions, last match wins.
		if regexp.QuoteMeta(f[0]) == f[0] {
			plain = append(plain, fc)
		} else {
			out = append(out, fc)
		}
	}
	return append(out, plain...), nil
}

// contextFor is the context of path with file type kind ("--", "-c", ...).
func contextFor(fcs []fileContext, path, kind string) string {
	for i := len(fcs) - 1; i >= 0; i-- {
		if (fcs[i].kind == "" || fcs[i].kind == kind) && fcs[i].re.MatchString(path) {
			if fcs[i].context == "<<none>>" {
				return ""
			}
			return fcs[i].context
		}
	}
	return ""
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "-d"
	case m&os.ModeSymlink != 0:
		return "-l"
	case m&os.ModeCharDevice != 0:
		return "-c"
	case m&os.ModeDevice != 0:
		return "-b"
	case m&os.ModeSocket != 0:
		return "-s"
	case m&os.ModeNamedPipe != 0:
		return "-p"
	}
	return "--"
}

// labelDev gives /dev and its nodes (one level: devtmpfs's own) their
// file-contexts labels; a node the policy does not name keeps device_t.
func labelDev() error {
	b, err := os.ReadFile(selinuxFileContexts)
	if err != nil {
		return err
	}
	fcs, err := parseFileContexts(string(b))
	if err != nil {
		return err
	}
	ents, err := os.ReadDir("/dev")
	if err != nil {
		return err
	}
	paths := []string{"/dev"}
	for _, e := range ents {
		paths = append(paths, filepath.Join("/dev", e.Name()))
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		ctx := contextFor(fcs, p, kindOf(fi.Mode()))
		if ctx == "" {
			continue
		}
		if err := syscall.Setxattr(p, "security.selinux", []byte(ctx), 0); err != nil && fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// selinuxDenials reports the AVC denials the kernel logged since boot
// (kauditd prints them to the kernel log when no audit daemon listens) and
// any class or permission the kernel checks that the policy lacks.
func selinuxDenials() {
	if !selinuxLoaded {
		return
	}
	var avc, undefined []string
	seen := map[string]bool{}
	// kauditd prints asynchronously: read until a pass adds nothing.
	for pass := 0; pass < 5; pass++ {
		added := 0
		for _, rec := range readKmsg() {
			if seen[rec] {
				continue
			}
			seen[rec] = true
			added++
			switch {
			case strings.Contains(rec, "avc:  denied"):
				avc = append(avc, rec)
			case strings.Contains(rec, "not defined in policy"):
				undefined = append(undefined, rec)
			}
		}
		if added == 0 && pass > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fact("selinux.avc_denials", strconv.Itoa(len(avc)))
	if len(avc) > 8 {
		avc = avc[:8]
	}
	fact("selinux.avc", strings.Join(avc, "\n"))
	fact("selinux.undefined", strings.Join(undefined, "\n"))
}

// readKmsg returns the messages in the kernel log buffer (sequence number
// and message of each record).
func readKmsg() []string {
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EPIPE) {
			continue // overwritten records: go on with the next
		}
		if err != nil || n <= 0 {
			return out
		}
		hdr, msg, ok := strings.Cut(string(buf[:n]), ";")
		if !ok {
			continue
		}
		f := strings.Split(hdr, ",")
		msg, _, _ = strings.Cut(msg, "\n")
		if len(f) > 1 {
			out = append(out, f[1]+" "+msg)
		}
	}
}
