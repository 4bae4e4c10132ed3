package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestNetArgs(t *testing.T) {
	for _, tc := range []struct {
		n    Network
		want string
		err  string
	}{
		{Network{}, "user,id=net0,restrict=on", ""},
		{Network{Subnet: "168.63.129.7/24", Forwards: []Forward{{2222, 22}},
			GuestForwards: []GuestForward{{"168.63.129.16", 80, 8080}}},
			"user,id=net0,restrict=on,net=168.63.129.0/24,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:168.63.129.16:80-tcp:127.0.0.1:8080", ""},
		{Network{Subnet: "fd00::/64"}, "", "want an IPv4 prefix"},
		{Network{Forwards: []Forward{{0, 22}}}, "", "ports must be"},
		{Network{GuestForwards: []GuestForward{{"host", 80, 1}}}, "", "want an IPv4 guest address"},
	} {
		args, err := tc.n.netArgs()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.n, err, tc.err)
			}
			continue
		}
		if err != nil || len(args) != 4 || args[1] != tc.want || args[3] != "virtio-net-pci,netdev=net0" {
			t.Errorf("%+v: %q %v", tc.n, args, err)
		}
	}
	for s, ok := range map[string]bool{"2222:22": true, "22": false, "0:22": false, "a:b": false, "70000:22": false} {
		if _, err := ParseForward(s); (err == nil) != ok {
			t.Errorf("ParseForward(%q) = %v", s, err)
		}
	}
}

// fakeQEMU is a "QEMU" that prints a complete report and then runs on, as
// a guest with sshd does.
func fakeQEMU(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "qemu")
	script := "#!/bin/sh\necho 'KEEL-FACT provision.user.op=uid=1000 keys=1'\necho 'KEEL-STATUS ok facts=1'\nexec sleep 60\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOnReady: the guest keeps running while OnReady works, past the boot
// timeout, and is stopped when it returns; its error fails the boot.
func TestOnReady(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var got []string
		o := Options{QEMU: fakeQEMU(t), Firmware: Direct, Kernel: "/dev/null", Timeout: time.Second,
			OnReady: func(ctx context.Context, facts map[string]string) error {
				time.Sleep(1500 * time.Millisecond) // beyond Timeout
				got = ProvisionedUsers(facts)
				if fail {
					return errors.New("no login")
				}
				return nil
			}}
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK == fail || len(got) != 1 || got[0] != "op" {
			t.Errorf("fail=%v: OK %v reason %q users %v", fail, res.OK, res.Reason, got)
		}
		if fail && !strings.Contains(res.Reason, "after the status line: no login") {
			t.Errorf("reason %q", res.Reason)
		}
	}
}

func TestSeed(t *testing.T) {
	testenv.RequireTool(t, "cloud-localds", "genisoimage")
	dir := t.TempDir()
	nocloud := filepath.Join(dir, "nocloud")
	azure := filepath.Join(dir, "azure")
	os.MkdirAll(nocloud, 0o755)
	os.MkdirAll(azure, 0o755)
	os.WriteFile(filepath.Join(nocloud, "meta-data"), []byte("instance-id: i\n"), 0o644)
	os.WriteFile(filepath.Join(azure, "ovf-env.xml"), []byte("<Environment/>"), 0o644)
	for _, src := range []string{nocloud, azure} {
		out := t.TempDir()
		iso, err := Seed(context.Background(), src, out)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := Seed(context.Background(), iso, out); err != nil || again != iso {
			t.Errorf("an ISO seed is used as it is: %q %v", again, err)
		}
	}
	if _, err := Seed(context.Background(), dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither meta-data") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := Seed(context.Background(), filepath.Join(nocloud, "meta-data"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an ISO 9660 or FAT image") {
		t.Errorf("a text file: %v", err)
	}
}
