package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/spf13/cobra"
)

type bootExit struct{ reason string }

func (e bootExit) Error() string { return "boot failed: " + e.reason }
func (e bootExit) ExitCode() int { return 3 }

func init() {
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
	)
	cmd := &cobra.Command{
		Use:   "boot IMAGE",
		Short: "Boot a disk image under QEMU (TCG) and assert the facts keel-init reports",
		Long: `Boot IMAGE (raw, qcow2 or vhd) under OVMF, or with --secure-boot under OVMF with
Secure Boot enforced, or a kernel directly with --kernel. The serial console is
captured; keel-init's KEEL-FACT lines are checked against --variant presets and
--expect assertions (key=value, key!=value, key~=regexp, key!~regexp).
Exit status 3 when the guest did not boot or a fact is wrong.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := boot.Options{Timeout: timeout, Memory: memory, CPUs: cpus, Firmware: boot.OVMF,
				DiskFormat: format, Kernel: kernel, Initrd: initrd, Cmdline: appendCmdline, Vars: vars}
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
			ex, err := boot.Expect(variant, kernelRel)
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
			if globals.json {
				enc := json.NewEncoder(out)
				enc.Encode(map[string]any{"ok": res.OK, "reason": res.Reason, "status": res.Status,
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
	f.DurationVar(&timeout, "timeout", 120*time.Second, "give up after this long")
	f.StringArrayVar(&expects, "expect", nil, "fact assertion: key=value, key!=value, key~=regexp, key!~regexp (repeatable)")
	f.StringVar(&variant, "variant", "", "apply a variant's checks: vm, hwe or guard")
	f.StringVar(&kernelRel, "kernel-release", "", "expected kernel release (from the image manifest)")
	f.StringVar(&format, "format", "", "disk format: raw, qcow2 or vpc (default: from the extension, else raw)")
	f.StringVar(&kernel, "kernel", "", "boot this kernel directly (no firmware; for timing and debugging)")
	f.StringVar(&initrd, "initrd", "", "initramfs for --kernel")
	f.StringVar(&appendCmdline, "append", "", "kernel command line for --kernel")
	f.StringVar(&consoleLog, "console-log", "", "write the raw serial console to this file")
	f.IntVar(&memory, "memory", 1024, "guest memory in MiB")
	f.IntVar(&cpus, "cpus", 1, "guest CPUs")
	rootCmd.AddCommand(cmd)
}
