package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/spf13/cobra"
)

type bootExit struct{ reason string }

func (e bootExit) Error() string { return "boot failed: " + e.reason }
func (e bootExit) ExitCode() int { return 3 }

func newBootCmd(a *app) *cobra.Command {
	var (
		secure                        bool
		vars, enrollCert              string
		timeout                       time.Duration
		expects                       []string
		variant, kernelRel            string
		format                        string
		kernel, initrd, appendCmdline string
		consoleLog                    string
		memory, cpus                  int
		noManifest                    bool
		saveVars                      string
		pvh                           bool
	)
	cmd := &cobra.Command{
		Use:   "boot IMAGE",
		Short: "Boot a disk image under QEMU (TCG) and assert the facts keel-init reports",
		Long: `Boot IMAGE (raw, qcow2 or vhd) under OVMF, or with --secure-boot under OVMF with
Secure Boot enforced, or a kernel directly with --kernel. The serial console is
captured; keel-init's KEEL-FACT lines are checked against the image's
manifest.json when it sits beside IMAGE (variant presets, kernel release, root
hash, OpenSSL/FIPS health checks when openssl is installed), else --variant
presets, and --expect assertions (key=value, key!=value, key~=regexp,
key!~regexp).
Exit status 3 when the guest did not boot or a fact is wrong.`,
		Example: `  keel boot out/images/vm/vm.qcow2
  keel boot out/images/guard/guard.raw --secure-boot --enroll-cert ~/.local/share/keel/keys/secureboot.crt
  keel boot --kernel vmlinuz --initrd initrd.img --append console=ttyS0 --expect kernel.release~=^6\.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := boot.Options{Timeout: timeout, Memory: memory, CPUs: cpus, Firmware: boot.OVMF,
				DiskFormat: format, Kernel: kernel, Initrd: initrd, Cmdline: appendCmdline, Vars: vars, SaveVars: saveVars, PVH: pvh}
			if len(args) == 1 {
				o.Disk = args[0]
				if o.DiskFormat == "" {
					switch strings.ToLower(filepath.Ext(o.Disk)) {
					case ".qcow2":
						o.DiskFormat = "qcow2"
					case ".vhd":
						o.DiskFormat = "vpc"
					}
				}
			}
			if kernel != "" {
				o.Firmware = boot.Direct
			} else if len(args) == 0 {
				return fmt.Errorf("boot: give an IMAGE, or --kernel for a direct boot")
			}
			if secure {
				if kernel != "" {
					return fmt.Errorf("boot: --secure-boot boots the disk through OVMF; drop --kernel")
				}
				o.Firmware = boot.OVMFSecureBoot
				if enrollCert != "" {
					dir, err := os.MkdirTemp("", "keel-vars-*")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					o.Vars = filepath.Join(dir, "vars.fd")
					if err := boot.EnrollVars(cmd.Context(), vars, enrollCert, o.Vars); err != nil {
						return err
					}
				}
			}
			ex, err := bootExpectations(o.Disk, variant, kernelRel, noManifest)
			if err != nil {
				return err
			}
			for _, s := range expects {
				e, err := boot.ParseExpectation(s)
				if err != nil {
					return err
				}
				ex = append(ex, e)
			}
			o.Expect = ex
			if consoleLog != "" {
				f, err := os.Create(consoleLog)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Console = f
			}
			res, err := boot.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json {
				emit(out, map[string]any{"ok": res.OK, "reason": res.Reason, "status": res.Status,
					"status_after_s": res.StatusAfter.Seconds(), "facts": res.Facts, "failures": res.Failures})
			} else {
				for _, f := range res.Order {
					fmt.Fprintf(out, "%s=%s\n", f.Key, f.Value)
				}
				if res.OK {
					fmt.Fprintf(out, "boot ok: status after %.2fs, %d facts, %d expectations met\n", res.StatusAfter.Seconds(), len(res.Order), len(ex))
				}
			}
			if !res.OK {
				return bootExit{res.Reason}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&secure, "secure-boot", false, "boot under OVMF with Secure Boot enforced (needs --vars or --enroll-cert)")
	f.StringVar(&vars, "vars", "", "OVMF vars file with enrolled keys (with --enroll-cert: the template)")
	f.StringVar(&enrollCert, "enroll-cert", "", "PEM certificate to enroll as PK/KEK/db into a temporary vars copy")
	f.StringVar(&saveVars, "save-vars", "", "after the boot, write the NVRAM as the firmware left it to this file (a VM's persistent NVRAM; pass it as --vars next time)")
	f.DurationVar(&timeout, "timeout", 120*time.Second, "give up after this long")
	f.StringArrayVar(&expects, "expect", nil, "fact assertion: key=value, key!=value, key~=regexp, key!~regexp (repeatable)")
	f.StringVar(&variant, "variant", "", "apply a variant's checks: vm, hwe, guard or fips (default: from manifest.json beside IMAGE)")
	f.BoolVar(&noManifest, "no-manifest", false, "ignore manifest.json beside IMAGE")
	f.StringVar(&kernelRel, "kernel-release", "", "expected kernel release (from the image manifest)")
	f.StringVar(&format, "format", "", "disk format: raw, qcow2 or vpc (default: from the extension, else raw)")
	f.StringVar(&kernel, "kernel", "", "boot this kernel directly (no firmware; for timing and debugging)")
	f.StringVar(&initrd, "initrd", "", "initramfs for --kernel")
	f.StringVar(&appendCmdline, "append", "", "kernel command line for --kernel")
	f.BoolVar(&pvh, "pvh", false, "with --kernel: boot the ELF kernel inside the bzImage through its PVH entry (no SeaBIOS loader, no in-guest decompression)")
	f.StringVar(&consoleLog, "console-log", "", "write the raw serial console to this file")
	intFlagP(f, &memory, "memory", "", 1024, 64, 1<<20, "guest memory in MiB")
	intFlagP(f, &cpus, "cpus", "", 1, 1, 64, "guest CPUs")
	return cmd
}

// bootExpectations reads the image manifest beside disk (written by keel
// image build) unless told not to or a variant is given; without one, the
// --variant presets apply.
func bootExpectations(disk, variant, kernelRel string, noManifest bool) ([]boot.Expectation, error) {
	if disk != "" && variant == "" && !noManifest {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(disk), "manifest.json"))
		if err == nil {
			var man image.Manifest
			if err := json.Unmarshal(b, &man); err != nil {
				return nil, fmt.Errorf("boot: %s: %w", filepath.Join(filepath.Dir(disk), "manifest.json"), err)
			}
			if man.Boot != nil && kernelRel != "" {
				man.Boot.KernelRelease = kernelRel // --kernel-release wins
			}
			ex, err := man.BootExpect()
			if err != nil {
				return nil, fmt.Errorf("boot: %w", err)
			}
			return ex, nil
		}
	}
	switch variant {
	case "", "vm", "hwe", "guard", "fips":
	default:
		return nil, fmt.Errorf("boot: unknown variant %q (want vm, hwe, guard or fips)", variant)
	}
	return boot.ImageExpect(variant, kernelRel, "", "", nil)
}
