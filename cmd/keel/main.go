// Command keel builds, hardens, ships and keeps patched Keel Linux (or any
// distribution tree laid out like distro/). This package only parses flags and
// calls the pipelines under pkg/; each subcommand lives in its own file and
// registers itself in init().
//
// updatemaxprocs=0: keel's commands are short-lived, so GOMAXPROCS is not
// re-read from the cgroup while they run; the runtime's background updater
// was ~5% of a one-package `keel repo index` (its thread, and the TLB
// shoot-downs another running thread of the process costs every page
// fault). The limit is still read once at start.
//
//go:debug updatemaxprocs=0
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/keel-linux/keel/cmd/keel/internal/early" // starts the repo walk during init
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// globals are the flags every subcommand shares.
var globals struct {
	distro string // distribution tree; empty = ./distro or the embedded default
	out    string // artifact directory
	cache  string // content-addressed cache
	json   bool   // structured output instead of a TTY view
}

var rootCmd = &cobra.Command{
	Use:           "keel",
	Short:         "Build, harden, ship and keep patched a minimal RPM Linux distribution",
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func init() {
	pf := rootCmd.PersistentFlags()
	pf.StringVarP(&globals.distro, "distro", "C", "", "distribution tree (default: ./distro if present, else the embedded Keel Linux)")
	pf.StringVar(&globals.out, "out", "out", "artifact directory")
	pf.StringVar(&globals.cache, "cache", "", "cache directory (default: $KEEL_CACHE or ~/.cache/keel)")
	pf.BoolVar(&globals.json, "json", false, "print JSON lines instead of a human view")
}

func main() {
	tuneGC()
	rootCmd.Version = version
	rootCmd.PersistentPreRun = catchSignals
	err := rootCmd.ExecuteContext(context.Background())
	stopView()
	if err != nil {
		var ec exitCoder
		code := 1
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "keel:", err)
		os.Exit(code)
	}
}

// signalsDefault, as a command annotation, leaves SIGINT and SIGTERM to
// kill the process: for commands that are safe to kill at any point (their
// writes are atomic and the next run cleans up) and short enough that
// installing Go's signal handling (a goroutine locked to a new thread) is
// a visible part of their run.
const signalsDefault = "keel/signals-default"

// catchSignals makes SIGINT and SIGTERM cancel the command's context, so
// long pipelines stop their children and remove their temporary files.
func catchSignals(cmd *cobra.Command, _ []string) {
	startView(cmd)
	if cmd.Annotations[signalsDefault] != "" {
		return
	}
	ctx, _ := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	cmd.SetContext(ctx)
}

// tuneGC: most keel commands are short and allocate little, and the
// collector was a third of a no-op `keel repo index`. Unless the user set
// GOGC or GOMEMLIMIT, collect only when the heap nears 1 GiB.
func tuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(1 << 30)
	debug.SetGCPercent(-1)
}

// exitCoder lets a pipeline error choose the process exit code (e.g. scan
// findings exit 3, not 1).
type exitCoder interface{ ExitCode() int }
