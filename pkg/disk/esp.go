package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// ESPFile is one file to put on the ESP.
type ESPFile struct {
	Path   string // inside the FAT, e.g. "EFI/BOOT/BOOTX64.EFI"
	Source string // host file
}

// ESPOptions describe a FAT32 EFI system partition image.
type ESPOptions struct {
	Out             string
	Size            int64  // bytes; 0 means room for the files plus 8 MiB, at least 64 MiB
	VolumeID        uint32 // FAT serial number
	Label           string // 11 characters at most
	Files           []ESPFile
	SourceDateEpoch int64 // timestamps of every entry (mtools honours SOURCE_DATE_EPOCH)
}

// BuildESP formats a FAT32 image with mkfs.vfat --invariant and copies the
// files in with mtools; with the same inputs the image is byte-identical.
func BuildESP(ctx context.Context, o ESPOptions) error {
	var total int64
	for _, f := range o.Files {
		fi, err := os.Stat(f.Source)
		if err != nil {
			return fmt.Errorf("esp: %s: %w", f.Path, err)
		}
		total += fi.Size()
	}
	size := o.Size
	if size == 0 {
		size = max((total+8<<20+Align-1)/Align*Align, 64<<20)
	}
	if total+2<<20 > size { // FAT32 tables and directories need room too
		return fmt.Errorf("esp: partition too small: %d bytes for %d bytes of files", size, total)
	}
	label := o.Label
	if label == "" {
		label = "ESP"
	}
	env := append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", o.SourceDateEpoch), "TZ=UTC", "MTOOLS_SKIP_CHECK=1")
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("esp: %s: %v: %s", name, err, bytes.TrimSpace(out))
		}
		return nil
	}
	return atomicfile.Write(o.Out, 0o644, func(f *os.File) error {
		if err := f.Truncate(size); err != nil {
			return err
		}
		if err := run("mkfs.vfat", "--invariant", "-F", "32", "-i", fmt.Sprintf("%08x", o.VolumeID), "-n", label, f.Name()); err != nil {
			return err
		}
		dirs := map[string]bool{}
		files := append([]ESPFile(nil), o.Files...)
		sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		for _, e := range files {
			p := strings.TrimPrefix(path.Clean("/"+e.Path), "/")
			var mk []string
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				if !dirs[d] {
					dirs[d] = true
					mk = append([]string{"::/" + d}, mk...)
				}
			}
			if len(mk) > 0 {
				if err := run("mmd", append([]string{"-i", f.Name()}, mk...)...); err != nil {
					return err
				}
			}
			if err := run("mcopy", "-i", f.Name(), e.Source, "::/"+p); err != nil {
				return err
			}
		}
		return nil
	})
}
