package bzimage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// tinyELF is a minimal ELF64 with one PT_NOTE segment holding notes.
func tinyELF(notes []byte) []byte {
	const ehsz, phsz = 64, 56
	b := make([]byte, ehsz+phsz)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2)  // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 62) // EM_X86_64
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint64(b[32:], ehsz) // phoff
	binary.LittleEndian.PutUint16(b[52:], ehsz)
	binary.LittleEndian.PutUint16(b[54:], phsz)
	binary.LittleEndian.PutUint16(b[56:], 1)
	ph := b[ehsz:]
	binary.LittleEndian.PutUint32(ph[0:], 4) // PT_NOTE
	binary.LittleEndian.PutUint64(ph[8:], ehsz+phsz)
	binary.LittleEndian.PutUint64(ph[32:], uint64(len(notes)))
	binary.LittleEndian.PutUint64(ph[40:], uint64(len(notes)))
	return append(b, notes...)
}

func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [3]uint32{uint32(len(name) + 1), uint32(len(desc)), typ})
	b.WriteString(name + "\x00")
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// bzImage wraps payload as boot protocol 2.15 would: setup sectors, the
// header, the payload with its decompressed size appended.
func bzImage(payload []byte, size int) []byte {
	img := make([]byte, 5*512+16)
	img[0x1f1] = 4
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)+4))
	img = append(img, payload...)
	return binary.LittleEndian.AppendUint32(img, uint32(size))
}

func compress(t *testing.T, format string, b []byte) []byte {
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch format {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "xz":
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = xw
	case "lz4":
		lw := lz4.NewWriter(&buf)
		if err := lw.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		w = lw
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVmlinux(t *testing.T) {
	pvh := tinyELF(append(note("Xen", 6, []byte("linux\x00")), note("Xen", xenElfnotePhys32Entry, []byte{0x40, 0x10, 0x00, 0x01})...))
	plain := tinyELF(note("GNU", 3, make([]byte, 20)))
	for _, format := range []string{"gzip", "xz", "lz4", "zstd"} {
		t.Run(format, func(t *testing.T) {
			img := bzImage(compress(t, format, pvh), len(pvh))
			_, f, size, err := Payload(img)
			if err != nil || f != format || int(size) != len(pvh) {
				t.Fatalf("Payload: %q %d %v, want %q %d", f, size, err, format, len(pvh))
			}
			got, err := Vmlinux(img)
			if err != nil || !bytes.Equal(got, pvh) {
				t.Fatalf("Vmlinux: %v (equal %v)", err, bytes.Equal(got, pvh))
			}
			entry, ok, err := PVHEntry(got)
			if err != nil || !ok || entry != 0x01001040 {
				t.Fatalf("PVHEntry: %#x %v %v, want 0x1001040", entry, ok, err)
			}
		})
	}
	if _, ok, err := PVHEntry(plain); ok || err != nil {
		t.Errorf("PVHEntry of a kernel without the note: %v %v", ok, err)
	}
}

func TestBadInput(t *testing.T) {
	good := bzImage(compress(t, "gzip", tinyELF(nil)), len(tinyELF(nil)))
	tests := []struct {
		name string
		img  []byte
		want string
	}{
		{"short", []byte("MZ"), "too short"},
		{"no header", make([]byte, 4096), "HdrS"},
		{"old protocol", func() []byte { b := bytes.Clone(good); b[0x206], b[0x207] = 0x04, 0x02; return b }(), "2.08"},
		{"payload outside", func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[0x24c:], 1<<30); return b }(), "outside"},
		{"unknown compression", bzImage([]byte("PK\x03\x04........"), 10), "not gzip"},
		{"huge size", bzImage(compress(t, "gzip", []byte("x")), 1<<31), "decompressed size"},
		{"short data", bzImage(compress(t, "gzip", []byte("x")), 100), "decompressing"},
		{"not elf", bzImage(compress(t, "gzip", []byte("hello")), 5), "not an ELF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Vmlinux(tt.img)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestDebianKernels: the real kernels Keel Linux ships (6.1 lz4, 6.12) have
// the PVH entry, and decompress as the kernel's own decompressor would.
func TestDebianKernels(t *testing.T) {
	testenv.RequireTool(t, "dpkg-deb")
	lookaside := testenv.RequireShared(t, "lookaside")
	debs, err := filepath.Glob(lookaside + "/linux-image-*.deb")
	if err != nil {
		t.Fatal(err)
	}
	if len(debs) == 0 {
		testenv.Missing(t, "no Debian kernel (linux-image-*.deb) in %s", lookaside)
	}
	for _, deb := range debs {
		t.Run(filepath.Base(deb), func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb: %v\n%s", err, out)
			}
			vmlinuz, _ := filepath.Glob(dir + "/boot/vmlinuz-*")
			if len(vmlinuz) != 1 {
				t.Fatalf("vmlinuz in %s: %v", deb, vmlinuz)
			}
			img, err := os.ReadFile(vmlinuz[0])
			if err != nil {
				t.Fatal(err)
			}
			k, err := Vmlinux(img)
			if err != nil {
				t.Fatal(err)
			}
			entry, ok, err := PVHEntry(k)
			if err != nil || !ok {
				t.Fatalf("PVH entry: %v %v", ok, err)
			}
			t.Logf("%d-byte bzImage -> %d-byte ELF, PVH entry %#x", len(img), len(k), entry)
		})
	}
}

func FuzzVmlinux(f *testing.F) {
	f.Add(bzImage(compress(&testing.T{}, "gzip", tinyELF(nil)), len(tinyELF(nil))))
	f.Add([]byte("HdrS"))
	f.Fuzz(func(t *testing.T, img []byte) {
		if k, err := Vmlinux(img); err == nil {
			PVHEntry(k)
		}
	})
}
