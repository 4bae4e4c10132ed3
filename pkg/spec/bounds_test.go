package spec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const boundsPreamble = "Name: x\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\n"

// TestReadRefusesNonRegular: %include, %{load:} and the spec itself refuse
// devices, fifos, directories and files past the size cap, with an error
// naming the spec, the line and the reason (today /dev/zero reads until
// memory runs out and a fifo blocks forever).
func TestReadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxFileSize+1); err != nil { // sparse
		t.Fatal(err)
	}
	r, err := NewReader(Options{MacroFiles: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, want string }{
		{"/dev/zero", "not a regular file (a character device)"},
		{fifo, "not a regular file (a fifo)"},
		{dir, "not a regular file (a directory)"},
		{big, "over the 16 MiB limit"},
	} {
		for _, form := range []struct{ name, line, want string }{
			{"include", "%include TARGET\n", tc.want},
			{"load", "%{load:TARGET}\n", tc.want},
			{"lua", "%{lua: assert(io.open(\"TARGET\"))}\n", "not a regular file within the size limit"},
		} {
			t.Run(form.name+" "+filepath.Base(tc.target), func(t *testing.T) {
				spec := filepath.Join(dir, "x.spec")
				text := boundsPreamble + strings.ReplaceAll(form.line, "TARGET", tc.target) + "%description\nd\n"
				if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := r.ParseFile(spec)
				if err == nil || !strings.Contains(err.Error(), form.want) || !strings.HasPrefix(err.Error(), spec+":6: ") {
					t.Fatalf("got %v, want %s:6: ... %s", err, spec, form.want)
				}
			})
		}
		t.Run("spec "+filepath.Base(tc.target), func(t *testing.T) {
			for _, parse := range []func() error{
				func() error { _, err := r.ParseFile(tc.target); return err },
				func() error { _, errs := r.ParseFiles([]string{tc.target}, 1); return errs[0] },
			} {
				err := parse()
				var pe *Error
				if !errors.As(err, &pe) || pe.File != tc.target || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want %s: ... %s", err, tc.target, tc.want)
				}
			}
		})
	}
}

// TestMacroBombs: a spec that expands without end fails with an error
// naming the spec and line, within the parse budget.
func TestMacroBombs(t *testing.T) {
	// 2^40 calls of an empty macro: no output, all work.
	empty := "%define a0 %{?nothing}\n"
	for i := 1; i <= 40; i++ {
		empty += "%define a" + strconv.Itoa(i) + " %{a" + strconv.Itoa(i-1) + "}%{a" + strconv.Itoa(i-1) + "}\n"
	}
	empty += "Name: %{a40}\n"
	// 7 MiB per line (under the per-line cap), kept in macro bodies line
	// after line: the parse's output budget stops it.
	wide := "%global w0 " + strings.Repeat("x", 1<<10) + "\n"
	for i := 1; i <= 10; i++ {
		wide += "%global w" + strconv.Itoa(i) + " %{w" + strconv.Itoa(i-1) + "}%{w" + strconv.Itoa(i-1) + "}\n"
	}
	for i := 0; i < 40; i++ {
		wide += "%global k" + strconv.Itoa(i) + " %{w10}%{w10}%{w10}%{w10}%{w10}%{w10}%{w10}\n"
	}
	wide += "Name: x\n"
	r, err := NewReader(Options{MacroFiles: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"empty", empty, "over 4000000 macro calls"},
		{"wide", wide, "over 64 MiB of expansion output"},
		{"lua string.rep", "Name: %{lua: local s = string.rep('x', 2^32)}\n", "string.rep: result over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Parse("bomb.spec", []byte(tc.text))
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "bomb.spec" || pe.Line == 0 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want bomb.spec:LINE: ... %s", err, tc.want)
			}
		})
	}
}

// TestErrorsQuoteSafely: control bytes from a spec are escaped in errors,
// and a line of an included file is not printed (%include /etc/shadow
// must not put a password hash on the terminal).
func TestErrorsQuoteSafely(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root:$6$hash:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(Options{MacroFiles: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text, want, never string }{
		{"control", "Name: x\nBogus\x1b]0;title\x07: y\n", `x.spec:2: Unknown tag: Bogus\x1b]0;title\a: y`, "\x1b"},
		{"include", boundsPreamble + "%include " + secret + "\n", secret + ":1: Unknown tag: (text of an included file, not shown)", "hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Parse("x.spec", []byte(tc.text))
			if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), tc.never) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}

// TestParseStopsOnCancel: a cancelled context stops a parse waiting on a
// %(...) command (the command is killed) and one busy expanding.
func TestParseStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "started")
	spec := filepath.Join(dir, "sleep.spec")
	text := boundsPreamble + "%global v %(echo > " + mark + "; exec sleep 600)\n%description\nd\n"
	if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(Options{MacroFiles: []string{}, Shell: ShellRun})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the command runs: the parse must not wait for it.
		for {
			if _, err := os.Stat(mark); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, errs := r.ParseFilesContext(ctx, []string{spec, spec}, 1)
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	}

	// Expansion looks at the context every cancelEvery macro calls.
	m := r.Macros().Clone()
	if err := m.Define("a0 %{?nothing}"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if err := m.Define(fmt.Sprintf("a%d %%{a%d}%%{a%d}", i, i-1, i-1)); err != nil {
			t.Fatal(err)
		}
	}
	m.spent = &budget{ctx: ctx}
	if _, err := m.Expand("%{a20}"); !errors.Is(err, context.Canceled) {
		t.Errorf("expansion: got %v, want context.Canceled", err)
	}
}
