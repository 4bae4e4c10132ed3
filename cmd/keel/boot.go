package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
	"github.com/keel-linux/keel/pkg/distro"
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
		keys                          string
		saveVars                      string
		pvh                           bool
		seeds, forwards               []string
		sshMode                       bool
	)
	cmd := &cobra.Command{
		Use:   "boot IMAGE",
		Short: "Boot a disk image under QEMU (TCG) and assert the facts keel-init reports",
		Long: `Boot IMAGE (raw, qcow2 or vhd: its header is checked, and names the format,
before QEMU starts) under OVMF, or with --secure-boot under OVMF with Secure
Boot enforced, or a kernel directly with --kernel. With the image's
manifest.json beside IMAGE, it boots by the plan the release cut uses: Secure
Boot enforced when the UKI is signed and the key directory has the
certificate, and keel-init's KEEL-FACT lines checked against the manifest
(variant presets, kernel release, root hash, OpenSSL/FIPS health checks when
openssl is installed); else --variant presets. --expect adds assertions
(key=value, key!=value, key~=regexp, key!~regexp).
Exit status 3 when the guest did not boot or a fact is wrong.`,
		Example: `  keel boot out/images/vm/vm.qcow2
  keel boot out/images/guard/guard.raw --secure-boot --enroll-cert ~/.local/share/keel/keys/secureboot.crt
  keel boot --kernel vmlinuz --initrd initrd.img --append console=ttyS0 --expect kernel.release~=^6\.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "", "raw", "qcow2", "vpc":
			case "vhd":
				format = "vpc"
			default:
				return usageError{fmt.Errorf("--format %q: want raw, qcow2 or vhd", format)}
			}
			if kernel == "" && len(args) == 0 {
				return usageError{fmt.Errorf("give an IMAGE, or --kernel for a direct boot")}
			}
			if secure && kernel != "" {
				return usageError{fmt.Errorf("--secure-boot boots the disk through OVMF; drop --kernel")}
			}
			var ex []boot.Expectation
			for _, s := range expects {
				e, err := boot.ParseExpectation(s)
				if err != nil {
					return usageError{err}
				}
				ex = append(ex, e)
			}
			o := boot.Options{Timeout: timeout, Memory: memory, CPUs: cpus, SaveVars: saveVars}
			cleanup, err := bootNetwork(cmd, &o, seeds, forwards, sshMode)
			defer cleanup()
			if err != nil {
				return err
			}
			if consoleLog != "" {
				f, err := os.Create(consoleLog)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Console = f
			}
			var res *boot.Result
			if kernel != "" {
				presets, err := presetExpect(variant, kernelRel)
				if err != nil {
					return err
				}
				o.Firmware, o.Kernel, o.Initrd, o.Cmdline, o.PVH, o.Expect = boot.Direct, kernel, initrd, appendCmdline, pvh, append(presets, ex...)
				if len(args) == 1 {
					if o.DiskFormat, err = boot.DetectDiskFormat(args[0]); err != nil {
						return err
					}
					o.Disk = args[0]
				}
				if res, err = boot.Run(cmd.Context(), o); err != nil {
					return err
				}
			} else {
				plan, err := bootPlan(args[0], variant, kernelRel, keys, noManifest)
				if err != nil {
					return err
				}
				plan.DiskFormat = format
				plan.Expect = append(plan.Expect, ex...)
				if vars != "" {
					plan.Vars = vars
					if enrollCert == "" {
						plan.EnrollCert = "" // --vars holds the enrolled keys already
					}
				}
				if secure {
					plan.Firmware = boot.OVMFSecureBoot
				}
				if enrollCert != "" {
					plan.EnrollCert = enrollCert
				}
				if plan.Firmware == boot.OVMFSecureBoot && plan.EnrollCert == "" && vars == "" {
					return usageError{fmt.Errorf("--secure-boot needs --vars (enrolled keys) or --enroll-cert PEM")}
				}
				if res, err = plan.Run(cmd.Context(), o); err != nil {
					return err
				}
				ex = plan.Expect
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
					a.sayf(out, "boot ok: status after %.2fs, %d facts, %d expectations met\n", res.StatusAfter.Seconds(), len(res.Order), len(ex))
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
	durationFlagP(f, &timeout, "timeout", 120*time.Second, time.Second, 24*time.Hour, "give up after this long")
	f.StringArrayVar(&expects, "expect", nil, "fact assertion: key=value, key!=value, key~=regexp, key!~regexp (repeatable)")
	f.StringVar(&variant, "variant", "", "apply a variant's checks: vm, hwe, guard or fips (default: from manifest.json beside IMAGE)")
	f.BoolVar(&noManifest, "no-manifest", false, "ignore manifest.json beside IMAGE")
	f.StringVar(&kernelRel, "kernel-release", "", "expected kernel release (from the image manifest)")
	f.StringVar(&format, "format", "", "disk format: raw, qcow2 or vhd (default: read from the image's header)")
	keysFlag(cmd, &keys, "whose Secure Boot certificate is enrolled for an image signed for Secure Boot")
	f.StringVar(&kernel, "kernel", "", "boot this kernel directly (no firmware; for timing and debugging)")
	f.StringVar(&initrd, "initrd", "", "initramfs for --kernel")
	f.StringVar(&appendCmdline, "append", "", "kernel command line for --kernel")
	f.BoolVar(&pvh, "pvh", false, "with --kernel: boot the ELF kernel inside the bzImage through its PVH entry (no SeaBIOS loader, no in-guest decompression)")
	f.StringVar(&consoleLog, "console-log", "", "write the raw serial console to this file")
	f.StringArrayVar(&seeds, "seed", nil, "provisioning media: a directory with meta-data and user-data (NoCloud, made into a cidata ISO by cloud-localds) or with ovf-env.xml (Azure), or a cidata ISO/FAT image (repeatable)")
	f.StringArrayVar(&forwards, "forward", nil, "TCP port forward HOSTPORT:GUESTPORT, host side on 127.0.0.1 only (repeatable; gives the guest a NIC on a restricted user network)")
	f.BoolVar(&sshMode, "ssh", false, "after the status line, wait for the guest's sshd (forwarded from a free port unless --forward names guest port 22), print the ssh command to log in and keep the guest running until interrupted")
	intFlagP(f, &memory, "memory", "", 1024, 64, 1<<20, "guest memory in MiB")
	intFlagP(f, &cpus, "cpus", "", 1, 1, 64, "guest CPUs")
	return cmd
}

// bootPlan is the image's own plan (image.Manifest.BootPlan, as the release
// cut boots it) when its manifest.json sits beside disk, unless told not to
// or a variant is given; else OVMF with the --variant presets. An image
// signed for Secure Boot boots with it enforced when the key directory has
// the certificate.
func bootPlan(disk, variant, kernelRel, keys string, noManifest bool) (boot.Plan, error) {
	if variant == "" && !noManifest {
		mf := filepath.Join(filepath.Dir(disk), "manifest.json")
		b, err := os.ReadFile(mf)
		if err == nil {
			var man image.Manifest
			if err := json.Unmarshal(b, &man); err != nil {
				return boot.Plan{}, fmt.Errorf("boot: %s: %w", mf, err)
			}
			if man.Boot != nil && kernelRel != "" {
				man.Boot.KernelRelease = kernelRel // --kernel-release wins
			}
			_, cert := distro.KeysAt(keys).SecureBoot()
			p, err := man.BootPlan(filepath.Dir(disk), disk, cert)
			if err != nil {
				return boot.Plan{}, fmt.Errorf("boot: %w", err)
			}
			return p, nil
		}
	}
	ex, err := presetExpect(variant, kernelRel)
	return boot.Plan{Disk: disk, Firmware: boot.OVMF, Expect: ex}, err
}

// presetExpect are the --variant checks.
func presetExpect(variant, kernelRel string) ([]boot.Expectation, error) {
	switch variant {
	case "", "vm", "hwe", "guard", "fips":
	default:
		return nil, usageError{fmt.Errorf("--variant %q: want vm, hwe, guard or fips", variant)}
	}
	return boot.ImageExpect(variant, kernelRel, "", "", nil)
}

// bootNetwork turns --seed, --forward and --ssh into boot options; cleanup
// removes the seeds it made.
func bootNetwork(cmd *cobra.Command, o *boot.Options, seeds, forwards []string, sshMode bool) (cleanup func(), err error) {
	cleanup = func() {}
	if len(seeds) > 0 {
		dir, err := os.MkdirTemp("", "keel-seed-*")
		if err != nil {
			return cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		for i, s := range seeds {
			sub := filepath.Join(dir, fmt.Sprint(i))
			if err := os.Mkdir(sub, 0o700); err != nil {
				return cleanup, err
			}
			p, err := boot.Seed(cmd.Context(), s, sub)
			if err != nil {
				return cleanup, err
			}
			o.Seeds = append(o.Seeds, p)
		}
	}
	if len(forwards) == 0 && !sshMode {
		return cleanup, nil
	}
	o.Net = &boot.Network{}
	sshPort := 0
	for _, f := range forwards {
		fw, err := boot.ParseForward(f)
		if err != nil {
			return cleanup, usageError{err}
		}
		if fw.Guest == 22 {
			sshPort = fw.Host
		}
		o.Net.Forwards = append(o.Net.Forwards, fw)
	}
	if sshMode {
		if sshPort == 0 {
			p, err := boot.FreePort()
			if err != nil {
				return cleanup, err
			}
			sshPort = p
			o.Net.Forwards = append(o.Net.Forwards, boot.Forward{Host: p, Guest: 22})
		}
		o.OnReady = boot.SSHSession(cmd.ErrOrStderr(), sshPort)
	}
	return cleanup, nil
}
