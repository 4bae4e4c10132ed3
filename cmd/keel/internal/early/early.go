// Package early starts, before the command line is parsed, work that needs
// nothing but that command line, so that it runs on the second core while
// the first sets the command up.
//
// Today that is `keel repo index|publish --dir D`: take D's repository lock
// and walk its packages (rpmdir.Prefetch), and fault in the heap the
// command is about to allocate (prefaultHeap). pkg/repo takes the lock over
// from rpmdir, so the walk is made under the command's own lock; a misread
// command line costs one wasted walk and a few MiB of memory, nothing else.
//
// Start runs from main, not from an init function, although during package
// init the second core is idle for longer: on this kind of machine (2
// vCPUs) a copy-on-write fault costs 3.5 µs while the process has no other
// running thread and 16–22 µs while it has one (the TLB shoot-down is an
// IPI to the other vCPU), and initializing ~400 Go packages takes ~90 of
// them. Started from an init function, the walk slowed that initialization
// by more than it saved; from main, a one-package update of a
// 1,000-package repository takes 1 ms less CPU and 0.2 ms less wall
// (bench/results/repo.md).
package early

import (
	"os"
	"strings"

	"github.com/keel-linux/keel/pkg/rpmdir"
)

// pkg/repo's LockFile and LinkName (a test checks they agree): this
// package stays a leaf.
const (
	lockFile = ".meta/lock"
	linkName = "repodata"
)

// prefaultBytes is how much heap prefaultHeap maps in ahead of a repo
// command. 41 alternating rounds of a one-package update of a 1,000-package
// repository, wall / CPU: none 6.47 / 7.21 ms, 1 MiB 6.13 / 6.93,
// 1.5 MiB 6.05 / 6.90, 2 MiB 6.13 / 7.01, 3 MiB 6.29 / 7.19 (pages mapped
// in and never used cost CPU here and again at exit).
const prefaultBytes = 2 << 20

// Start starts the work for the command line in os.Args, if there is any.
// Call it once, first thing in main.
func Start() {
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
