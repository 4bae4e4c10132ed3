// Package progress renders the records pipelines log through pkg/logctx:
// on a terminal, finished steps scroll by while the running ones are drawn
// live at the bottom (elapsed time, latest detail, a bar per planned kind);
// elsewhere (a CI log, a pipe) every record is one line and each running
// step gets a heartbeat line, with its elapsed time and log, at least every
// 30 s; with JSON, slog's JSON handler writes one object per line.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/keel-linux/keel/pkg/logctx"
)

// Options choose the view.
type Options struct {
	Level slog.Leveler // minimum level; default Info
	JSON  bool         // JSON lines
	// Terminal forces the live view (true) or the line view (false); nil
	// detects a terminal behind w (and TERM is not dumb).
	Terminal *bool
	Width    int              // terminal columns; 0 = ask the terminal, else 100
	Now      func() time.Time // the clock; default time.Now
	// Tick is how often the live view redraws (default 500 ms) or the line
	// view checks for due heartbeats (default 5 s); negative: never (tests
	// call Tick themselves).
	Tick time.Duration
	// Heartbeat is the longest a running step stays silent in the line
	// view; default 30 s.
	Heartbeat time.Duration
}

// Handler is a slog.Handler that must be closed when the command ends (it
// stops its ticker and clears the live view).
type Handler interface {
	slog.Handler
	// Tick redraws the live view, or prints the heartbeats that are due.
	Tick()
	Close()
}

// New returns the handler for w.
func New(w io.Writer, opt Options) Handler {
	if opt.Level == nil {
		opt.Level = slog.LevelInfo
	}
	if opt.JSON {
		return jsonHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: opt.Level})}
	}
	tty := IsTerminal(w)
	if opt.Terminal != nil {
		tty = *opt.Terminal
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 30 * time.Second
	}
	if opt.Width <= 0 {
		opt.Width = 100
		if f, ok := w.(*os.File); ok && tty {
			if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
				opt.Width = c
			}
		}
	}
	s := &state{w: w, tty: tty, opt: opt, t0: opt.Now(), bars: map[string]*bar{}, stop: make(chan struct{})}
	tick := opt.Tick
	if tick == 0 {
		tick = 5 * time.Second
		if tty {
			tick = 500 * time.Millisecond
		}
	}
	if tick > 0 && !tty && s.opt.Heartbeat > tick {
		// Checked every tick: beat a tick early so no gap exceeds Heartbeat.
		s.opt.Heartbeat -= tick
	}
	if tick > 0 {
		s.wg.Add(1)
		go s.loop(tick)
	}
	return &handler{s: s}
}

// IsTerminal reports whether w is a terminal that understands cursor
// movement.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

type jsonHandler struct{ slog.Handler }

func (jsonHandler) Tick()  {}
func (jsonHandler) Close() {}

// state is shared by a handler and every handler derived from it by
// WithAttrs and WithGroup.
type state struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	opt     Options
	t0      time.Time
	running []*running // in start order
	bars    map[string]*bar
	kinds   []string // bars in plan order
	drawn   int      // lines of the live view on screen
	frame   int
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

type running struct {
	kind, name, msg, detail, log string
	start, beat                  time.Time
}

type bar struct{ total, done int }

func (s *state) loop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick()
		}
	}
}

type handler struct {
	s      *state
	attrs  []slog.Attr // from WithAttrs, keys already prefixed by their groups
	prefix string      // open groups, "a.b."
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.s.opt.Level.Level() }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), flatten(h.prefix, as)...)
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func flatten(prefix string, as []slog.Attr) []slog.Attr {
	var out []slog.Attr
	for _, a := range as {
		a.Value = a.Value.Resolve()
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			out = append(out, flatten(p, a.Value.Group())...)
			continue
		}
		if a.Key == "" {
			continue
		}
		a.Key = prefix + a.Key
		out = append(out, a)
	}
	return out
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, flatten(h.prefix, []slog.Attr{a})...)
		return true
	})
	var ev event
	ev.level, ev.msg = r.Level, r.Message
	for _, a := range attrs {
		switch a.Key {
		case logctx.StepKey:
			ev.step = a.Value.String()
		case logctx.StateKey:
			ev.state = a.Value.String()
		case logctx.KindKey:
			ev.kind = a.Value.String()
		case logctx.ParentKey:
			ev.parentKind, ev.parent, _ = strings.Cut(a.Value.String(), "/")
		case "error":
			ev.err = a.Value.String()
		default:
			if a.Key == logctx.TotalKey && a.Value.Kind() == slog.KindInt64 {
				ev.total = int(a.Value.Int64())
			}
			if a.Key == logctx.LogKey {
				ev.log = a.Value.String()
			}
			ev.attrs = append(ev.attrs, a)
		}
	}
	h.s.handle(ev)
	return nil
}

type event struct {
	level                       slog.Level
	msg, step, state, kind, err string
	parent, parentKind          string
	log                         string
	total                       int
	attrs                       []slog.Attr
}

func (s *state) handle(ev event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	if ev.total > 0 && ev.kind != "" && ev.step == "" {
		if s.bars[ev.kind] == nil {
			s.kinds = append(s.kinds, ev.kind)
		}
		s.bars[ev.kind] = &bar{total: ev.total}
	}
	if r := s.find(ev.parentKind, ev.parent); r != nil {
		// Whatever happens inside a step is its latest detail.
		r.detail = strings.TrimSpace(ev.step + " " + ev.msg + formatAttrs(ev.attrs))
		r.beat = now
	}
	var lines []string
	switch ev.state {
	case logctx.Start:
		s.running = append(s.running, &running{kind: ev.kind, name: ev.step, msg: ev.msg, log: ev.log, start: now, beat: now})
		if !s.tty {
			lines = s.format(now, ev)
		}
	case "":
		if r := s.find(ev.kind, ev.step); r != nil {
			r.detail = ev.msg + formatAttrs(ev.attrs)
			r.beat = now
		}
		lines = s.format(now, ev)
	default: // an end state
		if i := s.index(ev.kind, ev.step); i >= 0 {
			s.running = append(s.running[:i], s.running[i+1:]...)
		}
		if b := s.bars[ev.kind]; b != nil && ev.step != "" {
			b.done++
		}
		lines = s.format(now, ev)
	}
	s.write(lines, now)
}

func (s *state) index(kind, step string) int {
	for i, r := range s.running {
		if r.kind == kind && r.name == step {
			return i
		}
	}
	return -1
}

func (s *state) find(kind, step string) *running {
	if i := s.index(kind, step); i >= 0 {
		return s.running[i]
	}
	return nil
}

// format is a record as permanent lines: elapsed run time, the step, the
// message, the other attributes; an error indented below.
func (s *state) format(now time.Time, ev event) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%7s]", clock(now.Sub(s.t0)))
	if ev.step != "" {
		fmt.Fprintf(&b, " %-16s", ev.step)
	} else if ev.parent != "" {
		fmt.Fprintf(&b, " %-16s", ev.parent)
	} else if ev.level >= slog.LevelError {
		b.WriteString(" error:")
	} else if ev.level == slog.LevelWarn {
		b.WriteString(" warning:")
	}
	b.WriteString(" " + ev.msg)
	b.WriteString(formatAttrs(ev.attrs))
	lines := []string{b.String()}
	if ev.err != "" {
		for _, l := range strings.Split(ev.err, "\n") {
			lines = append(lines, "    "+l)
		}
	}
	return lines
}

func formatAttrs(as []slog.Attr) string {
	var b strings.Builder
	for _, a := range as {
		v := a.Value.String()
		switch a.Value.Kind() {
		case slog.KindFloat64: // seconds, mostly: tenths are enough to read
			v = strconv.FormatFloat(math.Round(a.Value.Float64()*10)/10, 'f', -1, 64)
		case slog.KindString:
			if v == "" || strings.ContainsAny(v, " \t\n\"=") {
				v = strconv.Quote(v)
			}
		}
		b.WriteString(" " + a.Key + "=" + v)
	}
	return b.String()
}

// clock is a duration as the view prints it: 4.2s, 3m07s, 1h02m.
func clock(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

var spinner = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// live is the bottom of a terminal: one line per running step, then a bar
// per planned kind still under way. With nothing running it is empty, so
// the view is gone before the command prints its results (on stdout, which
// the view's cursor movements on stderr cannot account for).
func (s *state) live(now time.Time) []string {
	if len(s.running) == 0 {
		return nil
	}
	var out []string
	const most = 8
	for i, r := range s.running {
		if i == most {
			out = append(out, fmt.Sprintf("  … and %d more", len(s.running)-most))
			break
		}
		l := fmt.Sprintf("  %c %-16s %s %s", spinner[s.frame%len(spinner)], r.name, r.msg, clock(now.Sub(r.start)))
		if r.detail != "" {
			l += "  " + r.detail
		}
		out = append(out, l)
	}
	for _, k := range s.kinds {
		b := s.bars[k]
		if b.done >= b.total {
			continue
		}
		const width = 30
		fill := width * b.done / b.total
		out = append(out, fmt.Sprintf("  [%s%s] %d/%d %ss  %s", strings.Repeat("█", fill), strings.Repeat("░", width-fill),
			b.done, b.total, k, clock(now.Sub(s.t0))))
	}
	for i, l := range out {
		out[i] = truncate(l, s.opt.Width-1)
	}
	return out
}

func truncate(l string, n int) string {
	if utf8.RuneCountInString(l) <= n {
		return l
	}
	r := []rune(l)
	return string(r[:n-1]) + "…"
}

// write prints permanent lines and, on a terminal, redraws the live view
// under them, in one write so the screen never shows half a frame.
func (s *state) write(lines []string, now time.Time) {
	if s.closed {
		s.print(lines)
		return
	}
	var b strings.Builder
	if s.tty && s.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", s.drawn)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if s.tty {
		live := s.live(now)
		for _, l := range live {
			b.WriteString(l + "\n")
		}
		s.drawn = len(live)
	}
	if b.Len() > 0 {
		io.WriteString(s.w, b.String())
	}
}

func (s *state) print(lines []string) {
	for _, l := range lines {
		io.WriteString(s.w, l+"\n")
	}
}

func (h *handler) Tick() { h.s.tick() }

func (s *state) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := s.opt.Now()
	if s.tty {
		if len(s.running) > 0 || s.drawn > 0 {
			s.frame++
			s.write(nil, now)
		}
		return
	}
	// Heartbeats, oldest step first.
	rs := append([]*running(nil), s.running...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
	var lines []string
	for _, r := range rs {
		if now.Sub(r.beat) < s.opt.Heartbeat {
			continue
		}
		r.beat = now
		l := fmt.Sprintf("[%7s] %-16s still %s: %s", clock(now.Sub(s.t0)), r.name, r.msg, clock(now.Sub(r.start)))
		if r.log != "" {
			l += " log=" + r.log
		}
		lines = append(lines, l)
	}
	s.print(lines)
}

func (h *handler) Close() {
	s := h.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.tty && s.drawn > 0 {
		fmt.Fprintf(s.w, "\r\x1b[%dA\x1b[J", s.drawn)
		s.drawn = 0
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.wg.Wait()
}
