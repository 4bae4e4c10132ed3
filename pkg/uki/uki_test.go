package uki

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/pe"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

// fakeKernel is enough of a bzImage for the checks here (objcopy does not
// look inside sections); the boot tests use real kernels.
func fakeKernel(t *testing.T, dir string) string {
	b := make([]byte, 64<<10)
	copy(b[0x202:], "HdrS")
	p := filepath.Join(dir, "vmlinuz")
	os.WriteFile(p, b, 0o644)
	return p
}

func TestBuild(t *testing.T) {
	testenv.RequireTool(t, "objcopy")
	if _, err := os.Stat(DefaultStub); err != nil {
		testenv.RequireTool(t, "systemd-boot-efi-stub-missing")
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(initrd, bytes.Repeat([]byte("initrd"), 5000), 0o644)
	o := Options{Kernel: fakeKernel(t, dir), Initrd: initrd, Cmdline: "console=ttyS0 ro", OSRelease: []byte("ID=keel\n"), Out: filepath.Join(dir, "a.efi")}
	if err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // objcopy would stamp a different second
	o2 := o
	o2.Out = filepath.Join(dir, "b.efi")
	if err := Build(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(o.Out)
	b, _ := os.ReadFile(o2.Out)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds differ")
	}
	f, err := pe.Open(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.FileHeader.TimeDateStamp != 0 {
		t.Errorf("TimeDateStamp %d, want 0", f.FileHeader.TimeDateStamp)
	}
	if cs := f.OptionalHeader.(*pe.OptionalHeader64).CheckSum; cs != 0 {
		t.Errorf("CheckSum %#x, want 0", cs)
	}
	var stubEnd uint32
	var order []string
	for _, s := range f.Sections {
		switch s.Name {
		case ".osrel", ".cmdline", ".initrd", ".linux":
			order = append(order, s.Name)
			if s.VirtualAddress%pageSize != 0 || s.VirtualAddress < stubEnd {
				t.Errorf("%s at %#x: want page-aligned after the stub (ends %#x)", s.Name, s.VirtualAddress, stubEnd)
			}
		default:
			stubEnd = max(stubEnd, s.VirtualAddress+s.VirtualSize)
		}
	}
	if strings.Join(order, " ") != ".osrel .cmdline .initrd .linux" {
		t.Errorf("sections %v", order)
	}
	cmd, _ := f.Section(".cmdline").Data()
	if !strings.HasPrefix(string(cmd), "console=ttyS0 ro\x00") {
		t.Errorf(".cmdline = %q", cmd)
	}
}

func TestBadInput(t *testing.T) {
	testenv.RequireTool(t, "objcopy")
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(initrd, []byte("x"), 0o644)
	notPE := filepath.Join(dir, "stub")
	os.WriteFile(notPE, []byte("garbage"), 0o644)
	out := filepath.Join(dir, "out.efi")
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"missing-kernel", Options{Kernel: filepath.Join(dir, "nope"), Initrd: initrd, Out: out}, "kernel"},
		{"not-a-kernel", Options{Kernel: initrd, Initrd: initrd, Out: out}, "not an x86 bzImage"},
		{"corrupted-stub", Options{Stub: notPE, Kernel: fakeKernel(t, dir), Initrd: initrd, Out: out}, "stub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Build(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("partial output left behind")
			}
		})
	}
	if err := Sign(context.Background(), notPE, out, SignOptions{Key: filepath.Join(dir, "none.key"), Cert: notPE}); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Fatalf("missing key: %v", err)
	}
	// A corrupted UKI is refused before sbsign sees it, and nothing is written.
	if err := Sign(context.Background(), notPE, out, SignOptions{Key: notPE, Cert: notPE}); err == nil || !strings.Contains(err.Error(), "not a PE image") {
		t.Fatalf("corrupted UKI: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("partial output left behind")
	}
}

func TestSignReproducible(t *testing.T) {
	testenv.RequireTool(t, "objcopy", "sbsign", "sbverify")
	if _, err := os.Stat(Libfaketime); err != nil {
		testenv.RequireTool(t, "faketime")
	}
	dir := t.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Unix(0, 0), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	keyPath, certPath := filepath.Join(dir, "db.key"), filepath.Join(dir, "db.crt")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(initrd, []byte("x"), 0o644)
	unsigned := filepath.Join(dir, "u.efi")
	if err := Build(context.Background(), Options{Kernel: fakeKernel(t, dir), Initrd: initrd, Out: unsigned}); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for i, name := range []string{"s1.efi", "s2.efi"} {
		if i == 1 {
			time.Sleep(1100 * time.Millisecond)
		}
		out := filepath.Join(dir, name)
		if err := Sign(context.Background(), unsigned, out, SignOptions{Key: keyPath, Cert: certPath, SourceDateEpoch: 1763856000}); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command("sbverify", "--cert", certPath, out).CombinedOutput(); err != nil {
			t.Fatalf("sbverify: %v %s", err, o)
		}
		b, _ := os.ReadFile(out)
		got = append(got, b)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatal("two signatures of the same UKI differ")
	}
}
