package spec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Budgets for hostile specs, far above what real specs use: of Azure
// Linux's 1,540 specs, qemu's parse expands the most, 80 KB of output in
// 5.4k macro calls (measured when these were set).
const (
	// maxFileSize caps a spec, an %include and a macro file (%{load:}).
	maxFileSize = 16 << 20
	// maxParseOutput caps the bytes all expansions of one parse produce
	// (nested expansions count at each level, so it bounds work as well as
	// what a parse can keep: macro bodies, fields, included text).
	maxParseOutput = 64 << 20
	// maxParseSteps caps macro calls in one parse: a bomb of empty macros
	// (%define a1 %a0%a0, a2 %a1%a1, ...) produces nothing but runs 2^n.
	maxParseSteps = 4_000_000
	// cancelEvery is how many macro calls pass between looks at the context.
	cancelEvery = 1024
)

// ReadBounded is how the spec reader reads a spec or macro file: a regular
// file of at most 16 MiB, never blocking on a fifo. Readers of the files
// beside specs (pkg/srctree) use it for the same guarantees.
func ReadBounded(path string) ([]byte, error) { return readBounded(path) }

// readBounded reads a regular file of at most maxFileSize bytes. The open
// does not block on a fifo (O_NONBLOCK) and the type is checked on the open
// file, so swapping the path for a device after a check gains nothing.
func readBounded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, over the %d MiB limit for spec and macro files", path, fi.Size(), maxFileSize>>20)
	}
	// The size can change after the stat (a file still being written).
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: over the %d MiB limit for spec and macro files", path, maxFileSize>>20)
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a fifo"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return m.Type().String()
}

// budget is what one parse may still spend; shared by every expander of
// the parse (Lua's rpm.expand included).
type budget struct {
	ctx    context.Context
	output int64
	steps  int64
}

// errBudget marks the limits a hostile spec runs into; the message is
// ours, safe to show even for a line of an included file.
type errBudget struct{ msg string }

func (e *errBudget) Error() string { return e.msg }

// context is the context the parse runs under (Background outside one).
func (m *Macros) context() context.Context {
	if b := m.budget(); b.ctx != nil {
		return b.ctx
	}
	return context.Background()
}

// step accounts for one macro call and looks at the context now and then.
func (b *budget) step() error {
	b.steps++
	if b.steps > maxParseSteps {
		return &errBudget{fmt.Sprintf("macro expansion budget exhausted: over %d macro calls in one spec (a macro bomb?)", maxParseSteps)}
	}
	if b.steps%cancelEvery == 0 && b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// spend accounts for n bytes of expansion output.
func (b *budget) spend(n int) error {
	b.output += int64(n)
	if b.output > maxParseOutput {
		return &errBudget{fmt.Sprintf("macro expansion budget exhausted: over %d MiB of expansion output in one spec (a macro bomb?)", maxParseOutput>>20)}
	}
	return nil
}

// escapeControl writes control characters and invalid UTF-8 as Go escapes
// (\x1b, \n): a message must not carry terminal escapes from a spec to
// the reader's terminal.
func escapeControl(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unicode.IsControl(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// withheld stands for text of an included file in an error: %include can
// name any file the user can read (/etc/shadow), and the error must not
// print it.
const withheld = "(text of an included file, not shown)"

// redactIncluded replaces what an error message would quote from a line
// of an included file: strings, and errors other than keel's own limits.
func redactIncluded(a []any) []any {
	out := make([]any, len(a))
	for i, v := range a {
		switch x := v.(type) {
		case string:
			out[i] = withheld
		case error:
			var b *errBudget
			if errors.As(x, &b) || errors.Is(x, context.Canceled) || errors.Is(x, context.DeadlineExceeded) || errors.Is(x, errTooDeep) {
				out[i] = x
			} else {
				out[i] = withheld
			}
		default:
			out[i] = v
		}
	}
	return out
}
