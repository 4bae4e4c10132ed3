// Package early starts, from an init function, work that needs nothing but
// the command line, so that it runs on a second core while the rest of the
// binary (some 400 packages) initializes on the first. It imports only
// small leaf packages, which is what lets its init run early; keep it so.
//
// Today that is `keel repo index|publish --dir D`: take D's repository lock
// and walk its packages (rpmdir.Prefetch), which on a one-package update
// of a 1,000-package repository takes as long as the initialization it now
// overlaps; and fault in the heap the command is about to allocate
// (prefaultHeap). pkg/repo takes the lock over from rpmdir, so the walk is
// made under the command's own lock; a misread command line costs one
// wasted walk and a few MiB of memory, nothing else.
package early

import (
	"os"
	"strings"

	"github.com/keel-linux/keel/pkg/rpmdir"
)

// pkg/repo's LockFile and LinkName: importing pkg/repo would make this
// package's init wait for all of pkg/repo's dependencies (a test checks
// they agree).
const (
	lockFile = ".meta/lock"
	linkName = "repodata"
)

// prefaultBytes is how much heap prefaultHeap maps in ahead of a repo
// command: a one-package update of a 1,000-package repository allocates
// about 3 MiB after this package's init. 41 alternating rounds (wall / CPU
// of that update): none 6.59 / 8.02 ms, 2 MiB 6.15 / 7.81, 3 MiB
// 5.92 / 7.81, 4 MiB 5.90 / 7.94 (pages mapped in and never used cost CPU
// here and again at exit).
const prefaultBytes = 3 << 20

func init() {
	if dir := repoDir(os.Args[1:]); dir != "" {
		rpmdir.Prefetch(dir, linkName, lockFile)
		go prefaultHeap(prefaultBytes)
	}
}

// repoDir returns D of `repo index|publish ... --dir D` (or --dir=D), and
// "" for any other command line, including ones it cannot read for sure.
func repoDir(args []string) string {
	if len(args) < 2 || args[0] != "repo" || (args[1] != "index" && args[1] != "publish") {
		return ""
	}
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case a == "--dir" && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--dir="):
			return a[len("--dir="):]
		}
	}
	return ""
}
