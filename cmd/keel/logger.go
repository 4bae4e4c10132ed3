package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/progress"
)

// view renders what the pipelines log: live on a terminal (stderr), lines
// with heartbeats in a log, JSON lines on stdout with --json. Closed by main.
var view progress.Handler

// startView puts the command's logger into its context.
func startView(cmd *cobra.Command) {
	w := cmd.ErrOrStderr()
	if globals.json {
		w = cmd.OutOrStdout()
	}
	view = progress.New(w, progress.Options{JSON: globals.json})
	cmd.SetContext(logctx.WithLogger(cmd.Context(), slog.New(view)))
}

func stopView() {
	if view != nil {
		view.Close()
	}
}
