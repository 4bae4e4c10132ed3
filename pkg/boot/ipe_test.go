package boot

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/initramfs"
	"github.com/keel-linux/keel/pkg/ipe"
	"github.com/keel-linux/keel/pkg/kernelsig"
)

// The IPE probe a test guard runs as a health check (as root, from the
// verity root): a copy of busybox on tmpfs is executed, the kernel's IPE
// audit record for it is looked up in kmsg, then the attacks a root shell
// would try: an unsigned policy, one signed by another key, switching IPE to
// permissive. The harness grades the output lines.
const ipeProbe = `#!/usr/bin/busybox sh
B=/usr/bin/busybox
S=/sys/kernel/security/ipe
$B mkdir /tmp/ipe-probe && $B cp $B /tmp/ipe-probe/busybox
/tmp/ipe-probe/busybox true 2>/tmp/err && echo tmpfs.exec=ran || echo "tmpfs.exec=refused: $($B cat /tmp/err)"
echo "tmpfs.audit=$($B dmesg | $B grep 'ipe_op=EXECUTE' | $B grep -m1 'path="/tmp/ipe-probe/busybox"')"
$B cat /usr/share/keel-test/unsigned.pol 2>/tmp/err >$S/new_policy && echo attack.unsigned=loaded || echo "attack.unsigned=refused: $($B cat /tmp/err)"
$B cat /usr/share/keel-test/other-key.p7s 2>/tmp/err >$S/new_policy && echo attack.other_key=loaded || echo "attack.other_key=refused: $($B cat /tmp/err)"
(echo 0 >$S/enforce) 2>/tmp/err && echo attack.permissive=done || echo "attack.permissive=refused: $($B cat /tmp/err)"
echo "after.enforce=$($B cat $S/enforce)"
echo "after.policies=$($B ls $S/policies | $B tr '\n' ' ')"
`

// evilPolicy allows everything: what an attacker would load.
const evilPolicy = "policy_name=evil policy_version=9.0.0\nDEFAULT action=ALLOW\n"

// writeIPEProbe puts the probe and the attacker's policies into a root tree.
func writeIPEProbe(t testing.TB, root string) {
	t.Helper()
	dir := filepath.Join(root, "usr/share/keel-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	other := otherSigner(t)
	sig, err := other.Attached([]byte(evilPolicy))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "unsigned.pol"), []byte(evilPolicy), 0o644)
	os.WriteFile(filepath.Join(dir, "other-key.p7s"), sig, 0o644)
	os.WriteFile(filepath.Join(root, "usr/lib/keel/health.d/20-ipe"), []byte(ipeProbe), 0o755)
}

// otherSigner is a key pair nobody enrolled, made once per test binary so
// that two guard builds stay byte-identical (TestGuardReproducible).
var otherOnce struct {
	sync.Once
	s   *kernelsig.Signer
	err error
}

func otherSigner(t testing.TB) *kernelsig.Signer {
	t.Helper()
	otherOnce.Do(func() {
		dir, err := tempDir("keel-other-key-*")
		if err != nil {
			otherOnce.err = err
			return
		}
		key, cert, err := writeSelfSigned(dir, "not enrolled")
		if err != nil {
			otherOnce.err = err
			return
		}
		otherOnce.s, otherOnce.err = kernelsig.Load(key, cert)
	})
	if otherOnce.err != nil {
		t.Fatal(otherOnce.err)
	}
	return otherOnce.s
}

// ipeFiles is the initramfs part of IPE as the image pipeline writes it.
func ipeFiles(t testing.TB, s *kernelsig.Signer, mode string) []initramfs.File {
	t.Helper()
	if mode == "" {
		mode = "audit"
	}
	text, err := ipe.VerifiedOnly("keel-guard", "1.0.0").Text()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Attached(text)
	if err != nil {
		t.Fatal(err)
	}
	return []initramfs.File{{Path: "/etc/keel/ipe.p7s", Data: sig},
		{Path: "/etc/keel/ipe.conf", Data: []byte("name=keel-guard\nmode=" + mode + "\n")}}
}

// ipeExpect is what a Secure Boot guard in mode must report.
func ipeExpect(mode string) []Expectation {
	ex := []string{"initrd.verity.signature=kernel", "initrd.ipe=active", "ipe.mode=" + mode, "ipe.policy=keel-guard 1.0.0",
		"lsm~=(^|,)ipe(,|$)", "lsm~=(^|,)selinux(,|$)",
		`health.20-ipe.output~=(?m)^tmpfs.audit=.*audit: type=1420 .*ipe_op=EXECUTE .*enforcing=` + map[bool]string{true: "1", false: "0"}[mode == "enforce"] + ` .*path="/tmp/ipe-probe/busybox" dev="tmpfs" .*rule="DEFAULT action=DENY"`,
		"health.20-ipe.output~=(?m)^attack.unsigned=refused", "health.20-ipe.output~=(?m)^attack.other_key=refused",
		`health.20-ipe.output~=(?m)^after.policies=keel-guard\s*$`}
	if mode == "enforce" {
		ex = append(ex, "health.20-ipe.output~=(?m)^tmpfs.exec=refused", "health.20-ipe.output~=(?m)^attack.permissive=refused",
			"health.20-ipe.output~=(?m)^after.enforce=1$", "cap.bounding.mac_admin=dropped")
	} else {
		ex = append(ex, "health.20-ipe.output~=(?m)^tmpfs.exec=ran$", "cap.bounding.mac_admin=present")
	}
	return MustExpect(ex...)
}

// TestGuardIPE boots the guard under Secure Boot (its db certificate
// enrolled) in both IPE modes, every guard fact asserted: the kernel checked
// the root hash signature, the policy is active; enforce refuses the tmpfs
// copy of busybox and every attack (CAP_MAC_ADMIN is gone), audit runs it and
// shows the kernel refusing the unsigned and the wrongly signed policy by
// their signatures; the kernel's audit record names the copy in both.
func TestGuardIPE(t *testing.T) {
	requireQEMU(t)
	ks := testKeys(t)
	for _, mode := range []string{"audit", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			img := guardImage(t)
			if mode == "enforce" {
				img = buildImage(t, t.TempDir(), imageOpts{variant: "guard", ipe: "enforce"})
			}
			ex, _ := Expect("guard", img.Release)
			res := bootParallel(t, Options{Disk: img.Disk, Firmware: OVMFSecureBoot, Vars: ks.vars, Expect: append(ex, ipeExpect(mode)...), Timeout: 120 * time.Second})
			if !res.OK {
				dumpConsole(t, res)
				t.Fatalf("guard, IPE %s: %s", mode, res.Reason)
			}
			for _, f := range res.Order {
				t.Logf("fact %s=%s", f.Key, f.Value)
			}
		})
	}
}

// TestGuardLoaderCmdline: whoever controls the loader adds ipe.enforce=0
// enforcing=0 (OVMF's loader starting the signed UKI with those load
// options, as QEMU -kernel -append does). Under Secure Boot the stub ignores
// them: the kernel's command line is the UKI's, IPE still enforces.
func TestGuardLoaderCmdline(t *testing.T) {
	const loaderCmdline = "console=ttyS0 panic=-1 ipe.enforce=0 enforcing=0 keel.after=poweroff"
	testenv.Long(t, "one more Secure Boot boot of an enforcing guard (~30 s under TCG)")
	requireQEMU(t)
	ks := testKeys(t)
	img := buildImage(t, t.TempDir(), imageOpts{variant: "guard", ipe: "enforce"})
	ex, _ := Expect("guard", img.Release)
	ex = append(ex, ipeExpect("enforce")...)
	ex = append(ex, MustExpect("kernel.cmdline!~ipe.enforce=0", "kernel.cmdline!~enforcing=0", "kernel.cmdline~=keel.roothash="+img.RootHash.String())...)
	res := boot(t, Options{Disk: img.Disk, Firmware: OVMFSecureBoot, Vars: ks.vars, Kernel: img.SignedUKI,
		Cmdline: loaderCmdline, Expect: ex, Timeout: 150 * time.Second})
	if !res.OK {
		dumpConsole(t, res)
		t.Fatalf("guard with a loader-given command line: %s", res.Reason)
	}
	t.Logf("kernel.cmdline=%s; ipe.mode=%s", res.Facts["kernel.cmdline"], res.Facts["ipe.mode"])
	// The control: the same loader path without Secure Boot, where the
	// stub takes the loader's command line, so the kernel gets no keel.root=
	// and keel-init stops. (The boot above went through the loader too.)
	res = boot(t, Options{Disk: img.Disk, Firmware: OVMF, Kernel: img.SignedUKI,
		Cmdline: loaderCmdline, Timeout: 150 * time.Second})
	if res.Status != "fail" || !strings.Contains(res.Reason, "no keel.root=") {
		dumpConsole(t, res)
		t.Fatalf("without Secure Boot the loader's command line should reach the kernel: status %q, reason %q", res.Status, res.Reason)
	}
	t.Logf("without Secure Boot (the loader's command line): %s", res.Reason)
}
