package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// %(...) runs a shell command, as rpm does with popen("/bin/sh -c"). Forking
// a shell per expansion is most of the cost of reading a tree, and most
// commands are a few string pipelines (echo 1.2.3 | cut -d. -f1-2). So each
// command is first parsed as POSIX sh (mvdan.cc/sh) and, when every construct
// and every command in it is one keel implements exactly (see shellcmd.go),
// interpreted in process. Anything else - an unknown command, an unsupported
// flag, a bash-only construct, a glob, a redirection to a file, non-ASCII
// data - runs under the real /bin/sh as before. Nothing is guessed: an
// in-process command that meets an input it does not model aborts the
// in-process run, which has no side effects, and the command is forked.

// shellCache memoizes %(...) results for all parses sharing a Reader. The
// environment is snapshotted with the cache, so a command string is the
// whole key (command, environment).
type shellCache struct {
	mu       sync.Mutex
	m        map[string]*shellResult
	env      []string
	localeOK bool
	// stats, for tests and the bench
	inproc, forked, memoHits, discarded atomic.Int64
}

func newShellCache() *shellCache {
	env := os.Environ()
	return &shellCache{m: map[string]*shellResult{}, env: env, localeOK: cLocale(env)}
}

// cLocale reports whether the tools would run in the C locale (or C.UTF-8,
// the same for the ASCII-only data we model): the collation and character
// classes of other locales are theirs to decide.
func cLocale(env []string) bool {
	get := func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
	for _, k := range []string{"LC_CTYPE", "LC_COLLATE"} {
		v := get("LC_ALL")
		if v == "" {
			v = get(k)
		}
		if v == "" {
			v = get("LANG")
		}
		switch v {
		case "", "C", "POSIX", "C.UTF-8", "C.utf8":
		default:
			return false
		}
	}
	return true
}

type shellResult struct {
	once sync.Once
	fill func() (string, error)
	out  string
	err  error
}

func (r *shellResult) get() (string, error) {
	r.once.Do(func() { r.out, r.err = r.fill() })
	return r.out, r.err
}

// ShellStats counts how %(...) commands were answered by this Reader so far.
type ShellStats struct {
	InProcess, Forked, Memoized int64
	Discarded                   int64 // host queries in text keel throws away, not run
}

// ShellStats reports how %(...) commands were answered.
func (r *Reader) ShellStats() ShellStats {
	c := r.base.shellMemo
	return ShellStats{InProcess: c.inproc.Load(), Forked: c.forked.Load(), Memoized: c.memoHits.Load(), Discarded: c.discarded.Load()}
}

// shell runs %(cmd) according to the context's policy.
func (e *expander) shell(cmd string) (string, error) {
	x, err := e.expandString(cmd)
	if err != nil {
		return "", err
	}
	if e.m.Shell != ShellRun {
		e.m.warn("%%(%s) not run (shell disabled)", clip(x))
		return "", nil
	}
	if e.discard && planShell(x).hostQuery {
		if c := e.m.shellMemo; c != nil {
			c.discarded.Add(1)
		}
		return "", nil
	}
	return e.m.shellMemo.run(e.m.context(), x)
}

// run answers one command: from the memo, in process, or with /bin/sh.
// Memoized are in-process results (text tools on their stdin: nothing
// else to read) and forks whose every command is a read-only host query
// (hostQueries): a run of keel treats the installed toolchain as fixed, as
// one rpmspec does. Everything else runs at every occurrence.
func (c *shellCache) run(ctx context.Context, x string) (string, error) {
	var env []string
	localeOK := false
	if c != nil {
		env, localeOK = c.env, c.localeOK
		c.mu.Lock()
		ent := c.m[x]
		c.mu.Unlock()
		if ent != nil {
			c.memoHits.Add(1)
			return ent.get()
		}
	} else {
		env = os.Environ()
		localeOK = cLocale(env)
	}
	p := planShell(x)
	if p.inproc && localeOK {
		out, ok := runInProcess(ctx, p.file, env)
		if ok {
			if c != nil {
				c.inproc.Add(1)
				c.remember(x, &shellResult{fill: func() (string, error) { return out, nil }})
			}
			return out, nil
		}
	}
	if c == nil {
		return forkShell(ctx, x, env)
	}
	fork := func() (string, error) {
		c.forked.Add(1)
		return forkShell(ctx, x, env)
	}
	if !p.hostQuery {
		return fork()
	}
	// One fork per distinct command even when several workers ask at once.
	ent := c.remember(x, &shellResult{fill: fork})
	out, err := ent.get()
	if errors.Is(err, context.Canceled) {
		c.forget(x, ent) // a later run with a live context asks again
	}
	return out, err
}

func (c *shellCache) forget(x string, r *shellResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[x] == r {
		delete(c.m, x)
	}
}

func (c *shellCache) remember(x string, r *shellResult) *shellResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[x]; old != nil {
		return old
	}
	c.m[x] = r
	return r
}

// shellTrace, when set (tests), sees every forked command and its duration.
var shellTrace func(cmd string, d time.Duration)

func forkShell(parent context.Context, x string, env []string) (string, error) {
	if shellTrace != nil {
		start := time.Now()
		defer func() { shellTrace(x, time.Since(start)) }()
	}
	ctx, cancel := context.WithTimeout(parent, shellTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", x)
	c.Env = env
	var out limitedBuffer
	c.Stdout = &out
	c.Stderr = nil
	// Its own process group, killed whole: a timeout or a cancelled run
	// must not wait for a grandchild (dash forks `sleep` in `sh -c`) that
	// still holds the output pipe.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = time.Second
	err := c.Run()
	if err := parent.Err(); err != nil {
		return "", err
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("%%(%s): timed out after %s", clip(x), shellTimeout)
	}
	if out.over {
		return "", fmt.Errorf("%%(%s): output exceeds %d bytes", clip(x), shellMaxOut)
	}
	_ = err // rpm ignores the exit status
	return strings.TrimRight(out.b.String(), "\n"), nil
}

type limitedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len()+len(p) > shellMaxOut {
		l.over = true
		return 0, errors.New("output too large")
	}
	return l.b.Write(p)
}

// shellPlan is what a static look at a command decided.
type shellPlan struct {
	file *syntax.File
	// inproc: every construct is one the interpreter runs as dash would and
	// every command is a builtin of ours (still checked per call at run time).
	inproc bool
	// hostQuery: the command only reads the host (tools in hostQueries and
	// our pure builtins), writes no file, reads no clock, pid or randomness:
	// a fork of it is memoized for the run.
	hostQuery bool
}

// hostQueries are commands whose output describes the installed toolchain
// (versions, paths, CPU count); rpm macro files call them on every spec.
var hostQueries = map[string]bool{
	"python": true, "python2": true, "python3": true, "perl": true, "make": true, "gmake": true,
	"getconf": true, "rpm": true, "pkg-config": true, "pkgconf": true, "gcc": true, "cc": true,
	"g++": true, "go": true, "uname": true, "id": true, "hostname": true, "lua": true,
	"php-config": true, "mysql_config": true, "nproc": true,
	// pure text tools (when not run in process)
	"echo": true, "printf": true, "test": true, "[": true, "true": true, "false": true, ":": true,
	"cut": true, "tr": true, "sed": true, "grep": true, "rev": true, "head": true, "tail": true,
}

// Variables the interpreter would answer differently from dash (specials it
// computes, or sets up itself), or that change word splitting.
var shellDenyVars = map[string]bool{
	"PPID": true, "RANDOM": true, "SRANDOM": true, "DIRSTACK": true, "UID": true, "EUID": true,
	"GID": true, "HOME": true, "PWD": true, "OLDPWD": true, "IFS": true, "OPTIND": true,
	"OPTARG": true, "LINENO": true, "SECONDS": true, "PS1": true, "PS2": true, "PS4": true,
	"EPOCHSECONDS": true, "EPOCHREALTIME": true, "BASHPID": true, "SHELLOPTS": true,
	// which cut, and in which locale: assigning these is left to dash
	"PATH": true, "LANG": true, "LC_ALL": true, "LC_CTYPE": true, "LC_COLLATE": true, "LC_MESSAGES": true,
}

// Variables whose value changes from one read to the next (or between
// processes): a command reading them is never memoized.
var shellVolatileVars = map[string]bool{
	"PPID": true, "RANDOM": true, "SRANDOM": true, "SECONDS": true, "EPOCHSECONDS": true,
	"EPOCHREALTIME": true, "BASHPID": true, "LINENO": true,
}

var posixParser = sync.Pool{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangPOSIX)) }}

func planShell(x string) shellPlan {
	// The parser reads \r\n as a newline, dash does not: control
	// characters other than tab and newline are left to dash.
	if !shellInprocOK() || !isASCII(x) || strings.IndexFunc(x, func(r rune) bool { return r < ' ' && r != '\t' && r != '\n' }) >= 0 {
		return shellPlan{}
	}
	p := posixParser.Get().(*syntax.Parser)
	f, err := p.Parse(strings.NewReader(x), "")
	posixParser.Put(p)
	if err != nil {
		// dash decides what a bash-ism does (often an error): fork.
		return shellPlan{}
	}
	plan := shellPlan{file: f, inproc: true, hostQuery: true}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			if n.Background || n.Coprocess {
				plan.inproc, plan.hostQuery = false, false
			}
		case *syntax.CallExpr:
			for _, a := range n.Assigns {
				if shellDenyVars[a.Name.Value] || a.Append || a.Array != nil || a.Index != nil || a.Naked {
					plan.inproc = false
				}
			}
			if len(n.Args) == 0 {
				break
			}
			name := n.Args[0].Lit()
			if name == "" {
				plan.inproc, plan.hostQuery = false, false
				break
			}
			if name == "eval" {
				// Memoizable only when it evaluates host-query output.
				plan.inproc = false
				for _, a := range n.Args[1:] {
					if !onlyCmdSubst(a) {
						plan.hostQuery = false
					}
				}
				break
			}
			if _, ok := shellBuiltins[name]; !ok {
				plan.inproc = false
			}
			if !hostQueries[filepath.Base(name)] {
				plan.hostQuery = false
			}
		case *syntax.ParamExp:
			if n.Excl || n.Length || n.Width || n.Index != nil || n.Slice != nil || n.Repl != nil || n.Names != 0 {
				plan.inproc = false
			}
			if n.Exp != nil {
				switch n.Exp.Op {
				case syntax.RemSmallPrefix, syntax.RemLargePrefix, syntax.RemSmallSuffix, syntax.RemLargeSuffix,
					syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
				default:
					plan.inproc = false
				}
			}
			name := n.Param.Value
			switch {
			case name == "?":
			case name == "$" || name == "!" || shellVolatileVars[name]:
				plan.inproc, plan.hostQuery = false, false
			case shellDenyVars[name]:
				plan.inproc = false
			case !syntax.ValidName(name):
				plan.inproc = false // $0, $1, $#, $@, $*, $-
			}
		case *syntax.Redirect:
			target := ""
			if n.Word != nil {
				target = n.Word.Lit()
			}
			switch {
			case (n.Op == syntax.RdrOut || n.Op == syntax.AppOut || n.Op == syntax.ClbOut) && target == "/dev/null":
			case n.Op == syntax.DplOut && (target == "1" || target == "2"):
			default:
				plan.inproc = false
				if n.Op != syntax.RdrIn && n.Op != syntax.DplIn {
					plan.hostQuery = false
				}
			}
		case *syntax.ArithmExp, *syntax.ArithmCmd, *syntax.ProcSubst, *syntax.ExtGlob, *syntax.TestClause,
			*syntax.DeclClause, *syntax.LetClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseClause,
			*syntax.FuncDecl, *syntax.TimeClause, *syntax.CoprocClause, *syntax.BraceExp, *syntax.TestDecl:
			plan.inproc = false
		}
		return true
	})
	if !plan.inproc {
		plan.file = nil
	}
	return plan
}

// onlyCmdSubst reports whether w is nothing but command substitutions,
// possibly double-quoted.
func onlyCmdSubst(w *syntax.Word) bool {
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.CmdSubst:
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.CmdSubst); !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return len(w.Parts) > 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == 0 {
			return false
		}
	}
	return true
}

var (
	inprocOnce sync.Once
	inprocOK   bool
	toolOK     map[string]bool
)

// shellInprocOK checks once that /bin/sh is dash or bash (whose builtins
// ours follow for the forms we accept) and which of the external tools we
// model are the distribution's own (GNU coreutils, sed, grep; util-linux
// rev) found first in PATH, not a busybox link or a wrapper.
func shellInprocOK() bool {
	inprocOnce.Do(func() {
		sh, err := filepath.EvalSymlinks("/bin/sh")
		if b := filepath.Base(sh); err != nil || (b != "dash" && b != "bash") {
			return
		}
		inprocOK = true
		toolOK = map[string]bool{}
		for name, b := range shellBuiltins {
			if !b.external {
				continue
			}
			p, err := exec.LookPath(name)
			if err != nil {
				continue
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil || filepath.Base(real) != name {
				continue
			}
			if d := filepath.Dir(real); d == "/usr/bin" || d == "/bin" {
				toolOK[name] = true
			}
		}
	})
	return inprocOK
}

// errFallback aborts an in-process run: the command is forked instead.
var errFallback = errors.New("not modelled in process")

// inprocRun is the state of one in-process run.
type inprocRun struct {
	fallback atomic.Bool
}

// runInProcess interprets f; ok is false when the command must be forked.
func runInProcess(parent context.Context, f *syntax.File, env []string) (out string, ok bool) {
	st := &inprocRun{}
	var stdout limitedBuffer
	r, err := interp.New(
		interp.Env(expand.ListEnviron(env...)),
		interp.StdIO(nil, &stdout, io.Discard),
		interp.CallHandler(st.call),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return st.exec }),
		interp.OpenHandler(st.open),
		interp.ReadDirHandler2(func(ctx context.Context, path string) ([]fs.DirEntry, error) {
			st.fallback.Store(true) // a glob: dash's matching rules decide
			return nil, errFallback
		}),
		interp.StatHandler(func(ctx context.Context, name string, followSymlinks bool) (fs.FileInfo, error) {
			st.fallback.Store(true)
			return nil, errFallback
		}),
	)
	if err != nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(parent, shellTimeout)
	defer cancel()
	err = r.Run(ctx, f)
	if st.fallback.Load() || stdout.over || ctx.Err() != nil {
		return "", false
	}
	if err != nil {
		if _, isStatus := interp.IsExitStatus(err); !isStatus {
			return "", false
		}
	}
	return strings.TrimRight(stdout.b.String(), "\n"), true
}

// call maps a command to our implementation before the interpreter runs it:
// the interpreter's own echo and test are bash's, not dash's.
func (st *inprocRun) call(ctx context.Context, args []string) ([]string, error) {
	b, ok := shellBuiltins[args[0]]
	if !ok || (b.external && !toolOK[args[0]]) {
		st.fallback.Store(true)
		return nil, errFallback
	}
	if b.run == nil {
		return args, nil // true, false, ':' behave the same everywhere
	}
	out := make([]string, len(args))
	copy(out, args)
	out[0] = "keel-builtin:" + args[0]
	return out, nil
}

func (st *inprocRun) exec(ctx context.Context, args []string) error {
	name, ok := strings.CutPrefix(args[0], "keel-builtin:")
	b := shellBuiltins[name]
	if !ok || b.run == nil {
		st.fallback.Store(true)
		return errFallback
	}
	hc := interp.HandlerCtx(ctx)
	io := &cmdIO{stdout: hc.Stdout, st: st}
	if f, ok := hc.Stdin.(*os.File); ok && f != nil {
		io.stdin = f
	}
	status, err := b.run(io, args[1:])
	if err != nil {
		st.fallback.Store(true)
		return err
	}
	if status != 0 {
		return interp.NewExitStatus(uint8(status))
	}
	return nil
}

// open allows only writes to /dev/null (the walk refused everything else).
func (st *inprocRun) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	if path == "/dev/null" && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return nopWriteCloser{}, nil
	}
	st.fallback.Store(true)
	return nil, errFallback
}

type nopWriteCloser struct{}

func (nopWriteCloser) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }
