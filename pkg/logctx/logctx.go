// Package logctx carries a *slog.Logger in a context.Context, apko's
// pattern: a pipeline reports through FromContext(ctx) and never asks who
// listens, so a pipeline run inside another (the build inside a release
// cut) reports to the same place for free. Without a logger the records go
// nowhere.
//
// Long-running work is reported as steps: records that share a "step"
// attribute, with "state" start and then done, cached, failed or skipped.
// A handler (pkg/progress) draws running steps live, or prints a heartbeat
// for them; any other slog handler just sees ordinary records.
package logctx

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Attribute keys with a meaning to progress handlers.
const (
	StepKey    = "step"    // the running thing, e.g. a package or an image
	StateKey   = "state"   // start, done, cached, failed, skipped
	KindKey    = "kind"    // what a step is: package, image, stage
	TotalKey   = "total"   // on a plan record: how many steps of Kind to expect
	LogKey     = "log"     // where the step's full output goes
	SecondsKey = "seconds" // how long a finished step took
	ParentKey  = "parent"  // kind/name of the step this record happens inside
)

// Step states.
const (
	Start   = "start"
	Done    = "done"
	Cached  = "cached"
	Failed  = "failed"
	Skipped = "skipped"
)

type key struct{}

var discard = slog.New(slog.DiscardHandler)

// WithLogger returns a context that carries l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, l)
}

// FromContext returns the context's logger, or one that discards.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return discard
}

// With returns a context whose logger adds args to every record, e.g. the
// release stage a nested build runs in.
func With(ctx context.Context, args ...any) context.Context {
	return WithLogger(ctx, FromContext(ctx).With(args...))
}

// Step is one running step; End reports how it finished.
type Step struct {
	log  *slog.Logger
	t0   time.Time
	now  func() time.Time
	name string
	kind string
}

// StartStep logs that the step name of the given kind started; args add
// detail (e.g. LogKey and the log's path) and must not reuse StepKey or
// KindKey: the step is known by those two.
func StartStep(ctx context.Context, kind, name, msg string, args ...any) *Step {
	l := FromContext(ctx).With(StepKey, name, KindKey, kind)
	l.Info(msg, append([]any{StateKey, Start}, args...)...)
	return &Step{log: l, t0: time.Now(), now: time.Now, name: name, kind: kind}
}

// Context is ctx for work inside the step: what it logs, and the steps it
// starts, carry the step as their parent (a live view shows them beside it).
func (s *Step) Context(ctx context.Context) context.Context {
	return With(ctx, ParentKey, s.kind+"/"+s.name)
}

// Logger logs about the running step (a record without a state is detail
// a live view shows beside the step).
func (s *Step) Logger() *slog.Logger { return s.log }

// Done logs the step's success with its duration.
func (s *Step) Done(msg string, args ...any) {
	s.log.Info(msg, append([]any{StateKey, Done, SecondsKey, s.Seconds()}, args...)...)
}

// Fail logs the step's failure.
func (s *Step) Fail(err error, args ...any) {
	s.log.Error("failed", append([]any{StateKey, Failed, SecondsKey, s.Seconds(), "error", err.Error()}, args...)...)
}

// Seconds since the step started, rounded to tenths.
func (s *Step) Seconds() float64 {
	return float64(s.now().Sub(s.t0).Round(100*time.Millisecond)) / float64(time.Second)
}

// Lines returns a writer that logs each line written to it as a Debug
// record with msg and the line (a child's output streamed under -v), or
// nil when l does not log at Debug: callers skip the copy then.
func Lines(ctx context.Context, l *slog.Logger, msg string) io.Writer {
	if !l.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	return &lines{ctx: ctx, l: l, msg: msg}
}

type lines struct {
	ctx context.Context
	l   *slog.Logger
	msg string
	mu  sync.Mutex
	buf []byte
}

func (w *lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.l.DebugContext(w.ctx, w.msg, "line", string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
