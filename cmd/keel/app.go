package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/progress"
)

// app is one run of keel: the global flags, the logger they choose and the
// distribution context, resolved once. Every command is made by a
// constructor over it (newXCmd(a)); nothing lives in package globals.
type app struct {
	distroFlag string // --distro: distribution tree; empty = ./distro or the embedded default
	out        string // --out: artifact directory
	cache      string // --cache: content-addressed cache
	json       bool   // --json: JSON lines: results and log on stdout, errors on stderr
	verbose    bool   // -v: debug log, a running package's build log streamed
	quiet      bool   // -q: errors only

	view progress.Handler // renders what the pipelines log (pkg/logctx); closed by run
	log  *slog.Logger

	ctx *distro.Context // resolved on first use (see context)
}

// newRootCmd builds the whole command tree over a.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "keel",
		Short: "Build, harden, ship and keep patched a minimal RPM Linux distribution",
		Long: `keel builds an RPM distribution from a tree of specs (keel.yaml, SPECS/,
images/): sandboxed rpmbuild, a signed repository, OCI and bootable images,
QEMU boot tests, CVE scanning and monthly releases. The tree is --distro, else
./distro when it holds a keel.yaml, else the Keel Linux tree embedded in the
binary.`,
		Example: `  keel build                 # build every package of the tree
  keel release cut           # build, gate, sign and publish today's release
  keel specs --json | jq .   # what the specs define, as JSON lines`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.verbose && a.quiet {
				return usageError{errors.New("-v and -q contradict each other; give one")}
			}
			a.startView(cmd)
			return nil
		},
	}
	root.SetVersionTemplate("keel {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVarP(&a.distroFlag, "distro", "C", "", "distribution tree (default: ./distro if it holds keel.yaml, else the embedded Keel Linux)")
	pf.StringVar(&a.out, "out", "out", "output directory for artifacts (packages, repository, images, SBOMs)")
	pf.StringVar(&a.cache, "cache", "", "cache directory (default: $KEEL_CACHE or ~/.cache/keel)")
	pf.BoolVar(&a.json, "json", false, "print JSON lines instead of a human view (results and progress on stdout; an error as one JSON object on stderr)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log more: debug detail and a running package's build log")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only errors")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newInitCmd(a),
		newBuildCmd(a),
		newSpecsCmd(a),
		newGraphCmd(a),
		newSourcesCmd(a),
		newKeysCmd(a),
		newRepoCmd(a),
		newImageCmd(a),
		newVerityCmd(a),
		newBootCmd(a),
		newAdvisoriesCmd(a),
		newScanCmd(a),
		newAssessCmd(a),
		newSBOMCmd(a),
		newReleaseCmd(a),
		newVerifyCmd(a),
		newDoctorCmd(a),
		newVersionCmd(a),
	)
	usageOnArgErrors(root)
	attachCompletions(a, root)
	return root
}

// startView puts the run's logger into the command's context: the
// progress view (live on a terminal, lines with heartbeats in a log) on
// stderr, JSON lines on stdout under --json; debug records (a running
// package's build log) with -v, errors only with -q.
func (a *app) startView(cmd *cobra.Command) {
	level := slog.LevelInfo
	switch {
	case a.verbose:
		level = slog.LevelDebug
	case a.quiet:
		level = slog.LevelError
	}
	w := cmd.ErrOrStderr()
	if a.json {
		w = cmd.OutOrStdout()
	}
	a.view = progress.New(w, progress.Options{JSON: a.json, Level: level})
	a.log = slog.New(a.view)
	cmd.SetContext(logctx.WithLogger(cmd.Context(), a.log))
}

// stopView stops the view's ticker and clears the live lines.
func (a *app) stopView() {
	if a.view != nil {
		a.view.Close()
	}
}

// context is the distribution context every command gets its tree, spec
// reader, keys and clock from (pkg/distro): resolved once per run.
func (a *app) context() (*distro.Context, error) {
	if a.ctx != nil {
		return a.ctx, nil
	}
	c, err := distro.NewContext(a.distroFlag, a.cacheDir())
	if err != nil {
		return nil, err
	}
	a.ctx = c
	return c, nil
}

// distro is the resolved distribution tree.
func (a *app) distro() (*distro.Distro, error) {
	c, err := a.context()
	if err != nil {
		return nil, err
	}
	return c.Distro, nil
}

func (a *app) cacheDir() string {
	if a.cache != "" {
		if abs, err := filepath.Abs(a.cache); err == nil {
			return abs
		}
		return a.cache
	}
	return distro.DefaultCache()
}

// sayf prints a summary or confirmation line, which -q silences (errors,
// and the data a command was asked for, are always printed).
func (a *app) sayf(w io.Writer, format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(w, format, args...)
	}
}

// emit writes v as one JSON line: every --json result is a JSON line.
func emit(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// group is a command that only holds subcommands: alone it prints its help;
// with an unknown subcommand it is a usage error (cobra would print help
// and exit 0).
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())}
			}
			return c.Help()
		},
	}
	c.AddCommand(subs...)
	return c
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print keel's version",
		Long:    "Print the version keel was built from (git describe, stamped by make build; \"dev\" otherwise).",
		Example: "  keel version\n  keel version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.json {
				return emit(cmd.OutOrStdout(), map[string]string{"version": version})
			}
			fmt.Fprintln(cmd.OutOrStdout(), "keel", version)
			return nil
		},
	}
}

// usageError is a mistake on the command line: the usage is shown with it
// and the exit status is 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (e usageError) ExitCode() int { return 2 }

// usageOnArgErrors makes every command's argument check a usage error.
func usageOnArgErrors(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageOnArgErrors(sub)
	}
}

// exitError carries an exit code through cobra (e.g. a failed gate is 4).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) ExitCode() int { return e.code }
func (e exitError) Unwrap() error { return e.err }

// exitCoder lets a pipeline error choose the process exit code (e.g. scan
// findings exit 3, not 1).
type exitCoder interface{ ExitCode() int }

// hinter is an error that knows the way out.
type hinter interface{ Hint() string }

// errorReport is an error as --json prints it (and the text view reads it).
type errorReport struct {
	Error string `json:"error"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// fail prints err (one line, or one JSON object under --json) on cmd's
// stderr, with the usage for a command-line mistake, and returns the exit
// status: 130 when interrupted, the error's own code, else 1.
func (a *app) fail(ctx context.Context, cmd *cobra.Command, err error) int {
	w := cmd.ErrOrStderr()
	if ctx.Err() != nil {
		// Interrupted, whether the command then failed or stopped cleanly
		// (repo serve): one rule for Ctrl-C.
		if a.json {
			emit(w, errorReport{Error: "interrupted"})
		} else {
			fmt.Fprintln(w, "keel: interrupted")
		}
		return 130
	}
	code := 1
	var ec exitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	var ue usageError
	isUsage := errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ")
	if isUsage {
		code = 2
	}
	rep := describe(err)
	if isUsage && rep.Hint == "" {
		rep.Hint = fmt.Sprintf("see '%s --help'", cmd.CommandPath())
	}
	if a.json {
		emit(w, rep)
		return code
	}
	fmt.Fprintln(w, "keel:", rep.Error)
	// A command-line mistake gets the command's usage line and the way to
	// its full help, not the whole help: the error stays in view.
	if isUsage && cmd.Runnable() {
		fmt.Fprintln(w, "usage:", cmd.UseLine())
	}
	if rep.Hint != "" && !strings.Contains(rep.Error, rep.Hint) {
		fmt.Fprintln(w, "hint:", rep.Hint)
	}
	return code
}

var (
	fileLineRE = regexp.MustCompile(`(?:^|: )([^\s:]*[/.][^\s:]*):(\d+):`)       // path:12: msg
	fileLineWd = regexp.MustCompile(`(?:^|: )([^\s:]*[/.][^\s:]*): line (\d+):`) // path: line 12: msg
	fileOnlyRE = regexp.MustCompile(`(?:^|\s)(/[^\s:]+|[^\s:/]*/?[^\s:]+\.(?:yaml|yml|json|spec|xml|rpm|repo|asc)):`)
	hintRE     = regexp.MustCompile(`\(((?:run|pass|or|give|use) [^()]+)\)|; ((?:run|pass|give|use) [^;]+)$`)
)

// describe splits an error into message, file, line and hint: from the
// error's own fields where it has them (spec.Error, a hinter), else from the
// "file:line:" / "file: line N:" forms keel's parsers write.
func describe(err error) errorReport {
	rep := errorReport{Error: err.Error()}
	var h hinter
	if errors.As(err, &h) {
		rep.Hint = h.Hint()
	}
	var fl interface {
		Position() (string, int)
	}
	if errors.As(err, &fl) {
		rep.File, rep.Line = fl.Position()
	}
	msg := rep.Error
	if rep.File == "" {
		for _, re := range []*regexp.Regexp{fileLineRE, fileLineWd} {
			if m := re.FindStringSubmatch(msg); m != nil {
				rep.File = m[1]
				rep.Line, _ = strconv.Atoi(m[2])
				break
			}
		}
	}
	if rep.File == "" {
		if m := fileOnlyRE.FindStringSubmatch(msg); m != nil {
			rep.File = m[1]
		}
	}
	if rep.Hint == "" {
		if m := hintRE.FindStringSubmatch(msg); m != nil {
			rep.Hint = m[1] + m[2]
		} else if i := strings.LastIndex(msg, "did you mean "); i >= 0 && strings.HasSuffix(msg, "?") {
			rep.Hint = msg[i:]
		}
	}
	return rep
}
