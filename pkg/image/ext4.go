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
)

// clampExt4Times makes an ext4 image written by `mkfs.ext4 -d root`
// reproducible: mke2fs 1.47.0 copies every file's atime and ctime from the
// source tree, and the kernel stamps ctime with the wall clock whenever the
// tree is touched (no one can set it), so two builds differed in every inode.
// debugfs, the e2fsprogs tool that also keeps the inode checksums right,
// sets both to SOURCE_DATE_EPOCH on every entry of root; mtimes stay what the
// packages recorded.
func clampExt4Times(ctx context.Context, img string, r *os.Root, sde int64) error {
	var cmds bytes.Buffer
	at := "@" + strconv.FormatInt(sde, 10)
	err := fs.WalkDir(r.FS(), ".", func(rel string, _ fs.DirEntry, err error) error {
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
		if strings.HasPrefix(l, "set_inode_field:") {
			return fmt.Errorf("debugfs (clamping inode times): %s", l)
		}
	}
	return nil
}
