// Command keel builds, hardens, ships and keeps patched Keel Linux (or any
// distribution tree laid out like distro/). This package only parses flags and
// calls the pipelines under pkg/: every command is built by a newXCmd(a)
// constructor over one app value (app.go), so a test gets a fresh tree.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

func main() {
	// Ctrl-C and SIGTERM cancel the context every pipeline runs under, so
	// children are stopped and temporary files removed; run reports it as
	// "interrupted", exit 130.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once, should a pipeline not stop
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	a.stopView()
	if err == nil && ctx.Err() == nil {
		return 0
	}
	return a.fail(ctx, cmd, err)
}
