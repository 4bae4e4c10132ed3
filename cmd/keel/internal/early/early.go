// Package early starts, from an init function, work that needs nothing but
// the command line, so that it runs on the second core while the first
// finishes initializing the binary and sets the command up.
//
// Today that is `keel repo index|publish --dir D`: take D's repository lock
// and walk its packages (rpmdir.Prefetch). pkg/repo takes the lock over
// from rpmdir, so the walk is made under the command's own lock; a misread
// command line costs one wasted walk, nothing else.
//
// When it starts matters. On this kind of machine (2 vCPUs) a
// copy-on-write fault costs 3.5 µs while the process has no other running
// thread and 16–22 µs while it has one (the TLB shoot-down is an IPI to the
// other vCPU), and initializing ~400 Go packages takes ~80 such faults,
// most of them in the crypto, compression and sqlite packages. This
// package's init therefore comes after pkg/repodata's (the blank import
// below: Go initializes a package after everything it imports), which is
// after those: the walk overlaps the last 0.3–1 ms of init and the
// command's set-up instead of all of init. One-package update of a
// 1,000-package repository, 41 alternating rounds with createrepo_c runs
// between them, wall / CPU: walk from the 78th package's init 6.02 /
// 7.68 ms, from after pkg/repodata 6.05 / 7.28 ms, from main 6.19 /
// 7.00 ms (there the command waits for the walk).
package early

import (
	"os"
	"strings"

	_ "github.com/keel-linux/keel/pkg/repodata" // init order: see above
	"github.com/keel-linux/keel/pkg/rpmdir"
)

// pkg/repo's LockFile and LinkName (a test checks they agree): importing
// pkg/repo would put this package's init last, just before main.
const (
	lockFile = ".meta/lock"
	linkName = "repodata"
)

func init() {
	if dir := repoDir(os.Args[1:]); dir != "" {
		rpmdir.Prefetch(dir, linkName, lockFile)
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
