package disk

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestGPTWithRealTools(t *testing.T) {
	testenv.RequireTool(t, "sgdisk")
	dir := t.TempDir()
	src := filepath.Join(dir, "root.img")
	os.WriteFile(src, bytes.Repeat([]byte("keel"), 3<<20/4+7), 0o644) // not MiB-aligned on purpose
	o := Options{Out: filepath.Join(dir, "disk.raw"), Seed: "test", Partitions: []Partition{
		{Name: "esp", Type: TypeESP, Size: 8 << 20},
		{Name: "root", Type: TypeRootX86_64, Source: src, Attributes: 1 << 60},
	}}
	l, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sgdisk", "-v", o.Out).CombinedOutput(); err != nil || !strings.Contains(string(out), "No problems found") {
		t.Fatalf("sgdisk -v: %v\n%s", err, out)
	}
	out, err := exec.Command("sgdisk", "-p", o.Out).CombinedOutput()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), "disk identifier (guid): "+l.DiskGUID.String()) {
		t.Errorf("sgdisk -p: %v, want disk GUID %s\n%s", err, l.DiskGUID, out)
	}
	for _, want := range l.Partitions {
		out, err := exec.Command("sgdisk", "-i", strconv.Itoa(want.Number), o.Out).CombinedOutput()
		if err != nil {
			t.Fatalf("sgdisk -i: %v %s", err, out)
		}
		info := strings.ToLower(string(out))
		for _, line := range []string{
			"partition guid code: " + want.Type.String(),
			"partition unique guid: " + want.GUID.String(),
			"first sector: " + strconv.FormatInt(want.Offset/512, 10) + " ",
			"last sector: " + strconv.FormatInt((want.Offset+want.Size)/512-1, 10) + " ",
			"attribute flags: " + strconv.FormatUint(want.Attributes, 16),
			"partition name: '" + want.Name + "'",
		} {
			if !strings.Contains(info, strings.ToLower(line)) {
				t.Errorf("partition %d: sgdisk -i lacks %q:\n%s", want.Number, line, out)
			}
		}
		if want.Offset%Align != 0 || want.Size%Align != 0 {
			t.Errorf("partition %d not MiB-aligned: %d+%d", want.Number, want.Offset, want.Size)
		}
	}
	raw, _ := os.ReadFile(o.Out)
	root, _ := l.Find("root")
	data, _ := os.ReadFile(src)
	if !bytes.Equal(raw[root.Offset:root.Offset+int64(len(data))], data) {
		t.Error("root partition content differs from its source")
	}
	// Same inputs, same bytes.
	o.Out = filepath.Join(dir, "disk2.raw")
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(o.Out)
	if !bytes.Equal(raw, raw2) {
		t.Error("two builds differ")
	}

	// Conversions: reproducible, and qemu-img sees the same disk.
	testenv.RequireTool(t, "qemu-img")
	for _, f := range []Format{Qcow2, VHD} {
		a, b := filepath.Join(dir, "a."+string(f)), filepath.Join(dir, "b."+string(f))
		for _, p := range []string{a, b} {
			if err := Convert(context.Background(), filepath.Join(dir, "disk.raw"), p, f, "test", 1763856000); err != nil {
				t.Fatal(err)
			}
		}
		x, _ := os.ReadFile(a)
		y, _ := os.ReadFile(b)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two conversions differ", f)
		}
		qf := string(f)
		if f == VHD {
			qf = "vpc"
			if int64(len(x)) != int64(len(raw))+512 {
				t.Errorf("fixed VHD is %d bytes, want raw+512", len(x))
			}
		}
		if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", qf, filepath.Join(dir, "disk.raw"), a).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare raw %s: %v %s", f, err, out)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 3<<20), 0o644)
	out := filepath.Join(dir, "disk.raw")
	for _, tc := range []struct {
		name  string
		parts []Partition
		want  string
	}{
		{"too-small", []Partition{{Name: "root", Type: TypeRootX86_64, Size: 1 << 20, Source: big}}, "too small"},
		{"missing-source", []Partition{{Name: "root", Type: TypeRootX86_64, Source: filepath.Join(dir, "nope")}}, "no such file"},
		{"no-type", []Partition{{Name: "root", Size: 1 << 20}}, "no type GUID"},
		{"dup-name", []Partition{{Name: "a", Type: TypeESP, Size: 1}, {Name: "a", Type: TypeESP, Size: 1}}, "used twice"},
		{"none", nil, "partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(context.Background(), Options{Out: out, Partitions: tc.parts})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("partial image left behind")
			}
		})
	}
	if err := BuildESP(context.Background(), ESPOptions{Out: filepath.Join(dir, "esp"), Size: 1 << 20, Files: []ESPFile{{Path: "x", Source: big}}}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("small ESP: %v", err)
	}
}

func TestESP(t *testing.T) {
	testenv.RequireTool(t, "mkfs.vfat", "mcopy", "mdir")
	dir := t.TempDir()
	f := filepath.Join(dir, "BOOTX64.EFI")
	os.WriteFile(f, []byte("MZ not really"), 0o644)
	var imgs [][]byte
	for _, n := range []string{"a", "b"} {
		p := filepath.Join(dir, n+".esp")
		if err := BuildESP(context.Background(), ESPOptions{Out: p, VolumeID: 0x1234abcd, Files: []ESPFile{{Path: "EFI/BOOT/BOOTX64.EFI", Source: f}}, SourceDateEpoch: 1763856000}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		imgs = append(imgs, b)
		os.Chtimes(f, time.Now(), time.Now().Add(time.Hour)) // the host mtime must not leak in
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Fatal("two ESPs differ")
	}
	out, err := exec.Command("mdir", "-b", "-i", filepath.Join(dir, "a.esp"), "::/EFI/BOOT").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "BOOTX64.EFI") {
		t.Fatalf("mdir: %v %s", err, out)
	}
}
