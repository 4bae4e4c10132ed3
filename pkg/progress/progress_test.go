package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/logctx"
)

// fakeClock is moved by the test; no test waits on real time.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }
func yes() *bool                         { b := true; return &b }
func no() *bool                          { b := false; return &b }

// screen is a fake terminal: it applies what the live view writes (text,
// newlines, carriage return, cursor up, erase below) to a grid of lines.
type screen struct {
	lines []string
	row   int
}

var csi = regexp.MustCompile(`^\x1b\[(\d*)([AJ])`)

func (s *screen) Write(p []byte) (int, error) {
	str := string(p)
	for len(str) > 0 {
		if m := csi.FindStringSubmatch(str); m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				s.row = max(s.row-max(n, 1), 0)
			case "J":
				s.lines = s.lines[:s.row]
			}
			str = str[len(m[0]):]
			continue
		}
		switch c := str[0]; c {
		case '\x1b':
			return 0, errors.New("unexpected escape " + strconv.Quote(str))
		case '\r':
		case '\n':
			s.row++
		default:
			for len(s.lines) <= s.row {
				s.lines = append(s.lines, "")
			}
			i := strings.IndexAny(str, "\r\n\x1b")
			if i < 0 {
				i = len(str)
			}
			s.lines[s.row] += str[:i]
			str = str[i:]
			continue
		}
		str = str[1:]
	}
	return len(p), nil
}

func (s *screen) text() string { return strings.Join(s.lines, "\n") }

func TestTerminalDrawsRunningStepsAndBar(t *testing.T) {
	clk := newClock()
	scr := &screen{}
	h := New(scr, Options{Terminal: yes(), Now: clk.now, Tick: -1, Width: 120})
	defer h.Close()
	ctx := logctx.WithLogger(context.Background(), slog.New(h))
	log := logctx.FromContext(ctx)

	log.Info("plan", logctx.KindKey, "package", logctx.TotalKey, 3)
	logctx.FromContext(ctx).Info("cached", logctx.StepKey, "zlib", logctx.KindKey, "package", logctx.StateKey, logctx.Cached)
	clk.add(2 * time.Second)
	ossl := logctx.StartStep(ctx, "package", "openssl", "building", logctx.LogKey, "/c/logs/openssl.log")
	hello := logctx.StartStep(ctx, "package", "hello", "building")
	clk.add(3*time.Minute + 7*time.Second)
	h.Tick()
	got := scr.text()
	for _, want := range []string{"zlib", "cached", "openssl          building 3m07s", "hello            building 3m07s", "1/3 packages"} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "start") {
		t.Errorf("a start is drawn live, not printed:\n%s", got)
	}
	hello.Done("built")
	got = scr.text()
	if strings.Contains(got, "hello            building") || !strings.Contains(got, "hello            built") || !strings.Contains(got, "2/3 packages") {
		t.Errorf("after hello finished:\n%s", got)
	}
	ossl.Logger().Info("compiling", "files", 12)
	if !strings.Contains(scr.text(), "openssl          building 3m07s  compiling files=12") {
		t.Errorf("detail not shown beside the step:\n%s", scr.text())
	}
	ossl.Fail(errors.New("rpmbuild: exit 1\nsee log"))
	// Nothing runs: the live view is gone already, before Close, so what
	// the command prints next (on stdout) is not erased by it.
	got = scr.text()
	if strings.Contains(got, "building") || strings.Contains(got, "packages") {
		t.Errorf("live view left behind when nothing runs:\n%s", got)
	}
	scr.Write([]byte("3 built in 9.7s\n"))
	h.Close()
	if !strings.HasSuffix(scr.text(), "3 built in 9.7s") {
		t.Errorf("close erased the command's own output:\n%s", scr.text())
	}
	got = scr.text()
	lines := scr.lines
	if strings.Contains(got, "building") || strings.Contains(got, "packages") {
		t.Errorf("live view left behind after close:\n%s", got)
	}
	if n := len(lines); n < 3 || lines[n-3] != "    rpmbuild: exit 1" || lines[n-2] != "    see log" {
		t.Errorf("failure not printed with its error indented:\n%s", got)
	}
}

func TestTerminalTruncatesToWidth(t *testing.T) {
	scr := &screen{}
	h := New(scr, Options{Terminal: yes(), Now: newClock().now, Tick: -1, Width: 30})
	defer h.Close()
	ctx := logctx.WithLogger(context.Background(), slog.New(h))
	logctx.StartStep(ctx, "image", "a-very-long-image-name-indeed", "composing", "detail", strings.Repeat("x", 80))
	for _, l := range scr.lines {
		if n := len([]rune(l)); n > 29 {
			t.Errorf("live line of %d columns wraps a 30-column terminal: %q", n, l)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	clk := newClock()
	var out bytes.Buffer
	h := New(&out, Options{Terminal: no(), Now: clk.now, Tick: -1})
	defer h.Close()
	ctx := logctx.WithLogger(context.Background(), slog.New(h))
	st := logctx.StartStep(ctx, "package", "openssl", "building", logctx.LogKey, "/c/logs/openssl.log")
	if !strings.Contains(out.String(), "openssl          building log=/c/logs/openssl.log") {
		t.Fatalf("no start line: %q", out.String())
	}
	beats := func() int { return strings.Count(out.String(), "still building") }
	for _, c := range []struct {
		step  time.Duration
		beats int
	}{{29 * time.Second, 0}, {time.Second, 1}, {15 * time.Second, 1}, {15 * time.Second, 2}, {4 * time.Minute, 3}} {
		clk.add(c.step)
		h.Tick()
		if got := beats(); got != c.beats {
			t.Fatalf("after %s: %d heartbeats, want %d:\n%s", clk.t.Sub(newClock().t), got, c.beats, out.String())
		}
	}
	if !strings.Contains(out.String(), "openssl          still building: 1m00s log=/c/logs/openssl.log") {
		t.Errorf("heartbeat lacks elapsed time or log:\n%s", out.String())
	}
	// Output about the step counts as a sign of life.
	st.Logger().Info("compiling")
	clk.add(20 * time.Second)
	h.Tick()
	if beats() != 3 {
		t.Errorf("heartbeat 20s after a line about the step:\n%s", out.String())
	}
	st.Done("built")
	clk.add(time.Hour)
	h.Tick()
	if beats() != 3 || strings.Contains(out.String(), "\x1b") {
		t.Errorf("heartbeat for a finished step, or escapes in a log:\n%s", out.String())
	}
}

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	h := New(&out, Options{JSON: true})
	ctx := logctx.With(logctx.WithLogger(context.Background(), slog.New(h)), "stage", "build")
	logctx.StartStep(ctx, "package", "hello", "building").Done("built")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", out.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["step"] != "hello" || rec["state"] != "done" || rec["stage"] != "build" || rec["msg"] != "built" {
		t.Errorf("record %v", rec)
	}
}

func TestLevelAndDiscard(t *testing.T) {
	var out bytes.Buffer
	h := New(&out, Options{Terminal: no(), Tick: -1, Level: slog.LevelError})
	l := slog.New(h)
	l.Info("chatter")
	l.Error("boom", "file", "a b.yaml")
	if got := out.String(); strings.Contains(got, "chatter") || !strings.Contains(got, `error: boom file="a b.yaml"`) {
		t.Errorf("-q view: %q", got)
	}
	// No logger in the context: records vanish, nothing panics.
	logctx.StartStep(context.Background(), "package", "x", "building").Done("built")
}
