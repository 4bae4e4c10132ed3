package image

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/selinux"
)

// clampExt4Times makes an ext4 image written by `mkfs.ext4 -d root`
// reproducible: mke2fs 1.47.0 copies every file's atime and ctime from the
// source tree, and the kernel stamps ctime with the wall clock whenever the
// tree is touched (no one can set it), so two builds differed in every inode.
// debugfs, the e2fsprogs tool that also keeps the inode checksums right,
// sets both to SOURCE_DATE_EPOCH on every entry of root; mtimes stay what the
// packages recorded. With label, the same pass writes each entry's SELinux
// label (security.selinux) from the image's file contexts, as mkfs.erofs
// --file-contexts does for erofs.
func clampExt4Times(ctx context.Context, img string, r *os.Root, sde int64, label bool) error {
	var cmds bytes.Buffer
	at := "@" + strconv.FormatInt(sde, 10)
	var fc *selinux.FileContexts
	if label {
		b, err := readIn(r, selinux.FileContextsPath, 16<<20)
		if err != nil {
			return err
		}
		if fc, err = selinux.ParseFileContexts(selinux.FileContextsPath, b); err != nil {
			return err
		}
	}
	err := fs.WalkDir(r.FS(), ".", func(rel string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := "/" + rel
		if rel == "." {
			target = "/"
		}
		if strings.ContainsAny(target, "\"\n") {
			return fmt.Errorf("%s: a path with a double quote or newline cannot be put into an ext4 image reproducibly", target)
		}
		for _, field := range []string{"atime", "ctime"} {
			fmt.Fprintf(&cmds, "set_inode_field \"%s\" %s %s\n", target, field, at)
		}
		if fc != nil {
			if lbl, ok := fc.Lookup(target, de.Type()); ok && lbl != "" {
				fmt.Fprintf(&cmds, "ea_set \"%s\" security.selinux \"%s\"\n", target, lbl)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "debugfs", "-w", "-f", "-", img)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+strconv.FormatInt(sde, 10))
	cmd.Stdin = &cmds
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("debugfs (clamping inode times): %v: %s", err, bytes.TrimSpace(out))
	}
	// debugfs reports a failed command on its output and carries on.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "set_inode_field:") || strings.HasPrefix(l, "ea_set:") {
			return fmt.Errorf("debugfs (clamping inode times): %s", l)
		}
	}
	return nil
}
