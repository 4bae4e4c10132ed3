// Package boot is the boot harness: it boots a disk image (through OVMF, with
// or without Secure Boot) or a kernel directly under QEMU with software
// emulation (TCG; CI has no KVM), captures the serial console, reads the
// facts keel-init reports (see facts.go) and asserts them. The image never
// grades itself: keel-init reports raw observations, this package judges.
package boot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/bzimage"
)

// Firmware selects how QEMU starts the guest.
type Firmware string

const (
	// Direct boots Options.Kernel with SeaBIOS (-kernel/-initrd/-append).
	Direct Firmware = "direct"
	// OVMF boots the disk under UEFI without Secure Boot.
	OVMF Firmware = "ovmf"
	// OVMFSecureBoot boots the disk under UEFI with Secure Boot enforced
	// (SMM, secure pflash); Options.Vars must hold the enrolled keys.
	OVMFSecureBoot Firmware = "ovmf-secure-boot"
)

// Firmware files (Debian's ovmf package).
var (
	OVMFCode       = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	OVMFVars       = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// DefaultCPU is the emulated CPU model. Without cx16, because QEMU 7.2's TCG
// corrupts the 6.12 kernel's SLUB fast path (gs-prefixed cmpxchg16b): about
// half the boots panicked in kmem_cache_alloc ("Fatal exception in
// interrupt", "Attempted to kill init"), none in 16 boots without it.
var DefaultCPU = "qemu64,-cx16"

// Options describe one boot.
type Options struct {
	Disk       string // disk image; may be empty for a direct boot
	DiskFormat string // raw (default), qcow2, vpc
	Firmware   Firmware
	Vars       string // OVMF vars template (copied, never written); empty: OVMFVars
	// SaveVars (OVMF) keeps the NVRAM as the firmware left it, written here
	// after the boot: a VM's persistent NVRAM, to pass as Vars next time
	// (the first boot after enrolling keys rewrites the boot variables).
	SaveVars string
	Kernel   string // Direct; with OVMF, an EFI image for the firmware's loader (-kernel, Cmdline its load options)
	Initrd   string
	Cmdline  string
	// PVH (Direct) boots the ELF kernel inside the bzImage Kernel through
	// its PVH entry point, as microVM monitors do: QEMU loads it itself, so
	// neither SeaBIOS's loader nor the in-guest decompression runs. The
	// kernel is decompressed before QEMU starts.
	PVH     bool
	Memory  int           // MiB; 0 means 1024
	CPUs    int           // 0 means 1
	CPU     string        // QEMU -cpu model; empty means DefaultCPU
	Timeout time.Duration // 0 means 120 s
	Expect  []Expectation
	// IsolatedNIC (without Net) gives the guest a NIC with nothing on the
	// other end: no DHCP server answers.
	IsolatedNIC bool
	// Hold, when set, keeps a guest that reported ok running: it is called
	// with the live facts (those keel-init reports after its status line
	// too) and the boot ends when it returns; its error fails the boot.
	Hold func(ctx context.Context, live *Live) error
	// Console receives the raw serial console as it arrives (may be nil).
	Console io.Writer
	QEMU    string // binary; empty: qemu-system-x86_64
	// Net gives the guest a NIC on a restricted user network (net.go);
	// nil: no NIC.
	Net *Network
	// Seeds are read-only virtio disks after Disk: provisioning media
	// (Seed makes them).
	Seeds []string
	// Writable lets the boot write to Disk (a VM's own disk, e.g. a qcow2
	// overlay); by default writes go to a snapshot and are dropped.
	Writable bool
	// OnReady, when set, runs once the status line reported ok, with the
	// facts so far, while the guest keeps running (logging in over SSH);
	// the guest is stopped when it returns. Timeout does not apply to it:
	// ctx (Run's) does. An error fails the boot.
	OnReady func(ctx context.Context, facts map[string]string) error
}

// Result is what a boot showed.
type Result struct {
	OK       bool     // status ok, every fact counted, every expectation met
	Reason   string   // why not OK (first cause)
	Failures []string // unmet expectations
	Facts    map[string]string
	Order    []Fact // facts in the order reported
	Status   string // "ok", "fail", or "" when no status line came
	// StatusAfter is the time from QEMU's start to the status line.
	StatusAfter time.Duration
	Duration    time.Duration
	Console     []byte
}

// Run boots and judges. The error is for the harness itself failing (QEMU
// missing, bad options); a guest that fails to boot is a Result with OK false.
func Run(ctx context.Context, o Options) (*Result, error) {
	args, varsCopy, cleanup, err := qemuArgs(o)
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return nil, err
	}
	if o.SaveVars != "" && varsCopy == "" {
		return nil, errors.New("boot: saving OVMF vars needs a firmware boot (OVMF), not a direct kernel boot")
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bin := o.QEMU
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("boot: starting %s: %w", bin, err)
	}
	res := &Result{Facts: map[string]string{}}
	live := &Live{facts: map[string]string{}, changed: make(chan struct{})}
	var holdErr error
	var (
		mu      sync.Mutex
		console bytes.Buffer
		stopWhy string
		nStatus = -1
	)
	stop := func() { cmd.Process.Kill() }
	ready := make(chan map[string]string, 1) // the facts at an ok status, for OnReady
	var (
		readyErr     error
		readyStarted atomic.Bool
	)
	readyDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(stdout, 64*1024)
		for {
			line, err := r.ReadString('\n')
			if len(line) > 0 {
				mu.Lock()
				console.WriteString(line)
				if o.Console != nil {
					o.Console.Write([]byte(line))
				}
				l := strings.TrimRight(line, "\r\n")
				if i := strings.Index(l, factMarker); i >= 0 {
					if f, err := parseFact(l[i+len(factMarker):]); err == nil {
						res.Facts[f.Key] = f.Value
						if res.Status == "" {
							res.Order = append(res.Order, f) // the report the status line counts
						}
						live.set(f)
					} else if stopWhy == "" {
						stopWhy = "malformed fact line: " + err.Error()
					}
				} else if i := strings.Index(l, statusMarker); i >= 0 && res.Status == "" {
					res.StatusAfter = time.Since(start)
					ok, n, reason, err := parseStatus(l[i+len(statusMarker):])
					switch {
					case err != nil:
						res.Status = "fail"
						stopWhy = "malformed status line: " + err.Error()
					case ok:
						res.Status, nStatus = "ok", n
					default:
						res.Status = "fail"
						stopWhy = "keel-init stopped the boot: " + reason
					}
					if res.Status == "ok" && o.OnReady != nil {
						facts := make(map[string]string, len(res.Facts))
						for k, v := range res.Facts {
							facts[k] = v
						}
						readyStarted.Store(true)
						ready <- facts
					} else if res.Status == "ok" && o.Hold != nil {
						go func() {
							err := o.Hold(ctx, live)
							mu.Lock()
							holdErr = err
							mu.Unlock()
							stop()
						}()
					} else {
						stop()
					}
				} else if why := consoleFailure(l); why != "" && stopWhy == "" {
					stopWhy = why
					// A refused image waits forever at the boot menu; a panic
					// may not reboot. Neither can still succeed.
					time.AfterFunc(300*time.Millisecond, stop)
				}
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(readyDone)
		select {
		case facts := <-ready:
			readyErr = o.OnReady(parent, facts)
			stop()
		case <-done:
			if len(ready) > 0 {
				readyErr = errors.New("QEMU exited right after the status line")
			}
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			if readyStarted.Load() && parent.Err() == nil {
				// The timeout bounds reaching the status line; OnReady
				// runs under the caller's context.
				select {
				case <-parent.Done():
				case <-done:
					return
				}
			}
			stop()
		case <-done:
		}
	}()
	<-done
	<-readyDone
	werr := cmd.Wait()
	res.Duration = time.Since(start)
	if o.SaveVars != "" {
		// The NVRAM as the firmware left it; atomicfile: temp, fsync, rename.
		b, err := os.ReadFile(varsCopy)
		if err == nil {
			err = atomicfile.WriteFile(o.SaveVars, b, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("boot: saving OVMF vars: %w", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res.Console = console.Bytes()
	switch {
	case res.Status == "ok":
		if len(res.Order) != nStatus {
			res.Reason = fmt.Sprintf("status line counts %d facts but %d arrived (console lost lines)", nStatus, len(res.Order))
		}
	case stopWhy != "":
		res.Reason = stopWhy
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Reason = fmt.Sprintf("timeout after %s without a status line; last console line: %q", timeout, lastLine(res.Console))
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		res.Reason = fmt.Sprintf("QEMU exited (%v) without a status line; last console line: %q; stderr: %s",
			werr, lastLine(res.Console), strings.TrimSpace(stderr.String()))
	}
	if res.Status == "ok" && stopWhy != "" && res.Reason == "" {
		res.Reason = stopWhy
	}
	if readyErr != nil && res.Reason == "" {
		res.Reason = "after the status line: " + readyErr.Error()
	}
	if res.Status == "ok" && holdErr != nil && res.Reason == "" {
		res.Reason = "after the boot: " + holdErr.Error()
	}
	if res.Status == "ok" {
		for _, e := range o.Expect {
			if why := e.check(res.Facts); why != "" {
				res.Failures = append(res.Failures, why)
			}
		}
		if res.Reason == "" && len(res.Failures) > 0 {
			res.Reason = "facts do not match expectations: " + strings.Join(res.Failures, "; ")
		}
	}
	res.OK = res.Status == "ok" && res.Reason == ""
	return res, nil
}

// consoleFailure recognises console lines after which the boot cannot
// succeed, and says why.
func consoleFailure(l string) string {
	switch {
	case strings.Contains(l, "Kernel panic - not syncing"):
		return "kernel panic: " + strings.TrimSpace(l[strings.Index(l, "Kernel panic"):])
	case strings.Contains(l, "No bootable option"):
		return "firmware found nothing it would boot (\"No bootable option\"): under Secure Boot an unsigned or modified UKI ends here"
	case strings.Contains(l, "Access Denied"):
		return "firmware refused the image: " + strings.TrimSpace(l)
	case strings.Contains(l, "Attempted to kill init"):
		return "init died: " + strings.TrimSpace(l)
	}
	return ""
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// qemuArgs also returns the writable NVRAM copy QEMU boots with (firmware
// boots; "" otherwise).
func qemuArgs(o Options) (args []string, varsCopy string, cleanup func(), err error) {
	mem := o.Memory
	if mem == 0 {
		mem = 1024
	}
	cpus := o.CPUs
	if cpus == 0 {
		cpus = 1
	}
	machine := "q35"
	if o.Firmware == OVMFSecureBoot {
		machine += ",smm=on"
	}
	cpu := o.CPU
	if cpu == "" {
		cpu = DefaultCPU
	}
	args = []string{"-machine", machine, "-accel", "tcg", "-cpu", cpu, "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-device", "virtio-rng-pci"}
	if o.Disk != "" {
		if _, err := os.Stat(o.Disk); err != nil {
			return nil, "", nil, fmt.Errorf("boot: disk: %w", err)
		}
		format := o.DiskFormat
		if format == "" {
			format = "raw"
		}
		// snapshot=on: a boot never changes the image (the vm root is rw),
		// unless the caller gave the VM's own disk.
		snap := "snapshot=on,"
		if o.Writable {
			snap = ""
		}
		args = append(args, "-drive", "if=none,id=disk0,"+snap+"format="+format+",file="+o.Disk,
			"-device", "virtio-blk-pci,drive=disk0,bootindex=1")
	}
	for i, s := range o.Seeds {
		if _, err := os.Stat(s); err != nil {
			return nil, "", nil, fmt.Errorf("boot: seed: %w", err)
		}
		id := fmt.Sprintf("seed%d", i)
		args = append(args, "-drive", "if=none,id="+id+",readonly=on,format=raw,file="+s, "-device", "virtio-blk-pci,drive="+id)
	}
	if o.Net != nil {
		na, err := o.Net.netArgs()
		if err != nil {
			return nil, "", nil, err
		}
		args = append(args, na...)
	} else if o.IsolatedNIC {
		args = append(args, isolatedNIC...)
	}
	switch o.Firmware {
	case Direct, "":
		if o.Kernel == "" {
			return nil, "", nil, errors.New("boot: direct boot needs a kernel")
		}
		kernel := o.Kernel
		if o.PVH {
			dir, err := os.MkdirTemp("", "keel-boot-*")
			if err != nil {
				return nil, "", nil, err
			}
			cleanup = func() { os.RemoveAll(dir) }
			if kernel, err = pvhKernel(o.Kernel, dir); err != nil {
				return nil, "", cleanup, err
			}
		}
		args = append(args, "-kernel", kernel, "-append", o.Cmdline)
		if o.Initrd != "" {
			args = append(args, "-initrd", o.Initrd)
		}
	case OVMF, OVMFSecureBoot:
		if o.Disk == "" {
			return nil, "", nil, errors.New("boot: firmware boot needs a disk")
		}
		code := OVMFCode
		if o.Firmware == OVMFSecureBoot {
			code = OVMFSecureCode
			if o.Vars == "" {
				return nil, "", nil, errors.New("boot: Secure Boot needs a vars file with enrolled keys (see docs/boot.md)")
			}
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		vars := o.Vars
		if vars == "" {
			vars = OVMFVars
		}
		dir, err := os.MkdirTemp("", "keel-boot-*")
		if err != nil {
			return nil, "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		varsCopy = filepath.Join(dir, "vars.fd")
		b, err := os.ReadFile(vars)
		if err != nil {
			return nil, "", cleanup, fmt.Errorf("boot: OVMF vars: %w", err)
		}
		if err := os.WriteFile(varsCopy, b, 0o600); err != nil {
			return nil, "", cleanup, err
		}
		if _, err := os.Stat(code); err != nil {
			return nil, "", cleanup, fmt.Errorf("boot: OVMF firmware: %w (apt-get install ovmf)", err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+varsCopy)
		if o.Kernel != "" {
			// The firmware's loader starts this EFI image with Cmdline as
			// its load options: a command line chosen by whoever controls
			// the loader (under Secure Boot a signed UKI ignores it).
			args = append(args, "-kernel", o.Kernel, "-append", o.Cmdline)
		}
	default:
		return nil, "", nil, fmt.Errorf("boot: unknown firmware %q (want direct, ovmf or ovmf-secure-boot)", o.Firmware)
	}
	return args, varsCopy, cleanup, nil
}

// pvhKernel writes the ELF kernel out of the bzImage at path into dir and
// returns its path; a kernel without a PVH entry point is an error (QEMU
// would otherwise try, and fail, to boot it some other way).
func pvhKernel(path, dir string) (string, error) {
	img, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("boot: kernel: %w", err)
	}
	k, err := bzimage.Vmlinux(img)
	if err != nil {
		return "", fmt.Errorf("boot: --pvh: %s: %w", path, err)
	}
	if _, ok, err := bzimage.PVHEntry(k); err != nil || !ok {
		if err == nil {
			err = errors.New("the kernel has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY; CONFIG_PVH)")
		}
		return "", fmt.Errorf("boot: --pvh: %s: %w", path, err)
	}
	out := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(out, k, 0o600); err != nil {
		return "", err
	}
	return out, nil
}
