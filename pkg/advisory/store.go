package advisory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/osv"
)

// Store is a directory of records: <root>/<source>/<package>/<id>.json.
// Keel Linux's own records are source "keel" under distro/advisories/.
type Store struct{ Root string }

var safeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~^-]*$`) }) // compiled on first use, not at keel start-up

// Path is where a record lives.
func (s Store) Path(a *Advisory) (string, error) {
	for _, part := range []string{a.Keel.Source, a.Keel.Package, a.OSV.ID} {
		if !safeName().MatchString(part) || strings.Contains(part, "..") {
			return "", fmt.Errorf("advisory %q: %q is not a safe path component", a.OSV.ID, part)
		}
	}
	return filepath.Join(s.Root, a.Keel.Source, a.Keel.Package, a.OSV.ID+".json"), nil
}

// LoadResult is what Load read, with per-file errors kept rather than
// aborting: one bad record must not hide the others.
type LoadResult struct {
	Advisories []*Advisory
	Errors     []error
}

// Load reads every record under the store (or only the given sources).
func (s Store) Load(sources ...string) (*LoadResult, error) {
	res := &LoadResult{}
	roots := []string{s.Root}
	if len(sources) > 0 {
		roots = roots[:0]
		for _, src := range sources {
			roots = append(roots, filepath.Join(s.Root, src))
		}
	}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".json") || filepath.Base(p) == stateFile {
				return nil
			}
			a, err := ReadFile(p)
			if err != nil {
				res.Errors = append(res.Errors, err)
				return nil
			}
			res.Advisories = append(res.Advisories, a)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading advisories in %s: %w", root, err)
		}
	}
	sort.Slice(res.Advisories, func(i, j int) bool { return res.Advisories[i].OSV.ID < res.Advisories[j].OSV.ID })
	return res, nil
}

// ReadFile reads one record.
func ReadFile(p string) (*Advisory, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	v, err := osv.Parse(p, data)
	if err != nil {
		return nil, err
	}
	a, err := Decode(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return a, nil
}

// Write stores one record atomically.
func (s Store) Write(a *Advisory) error {
	p, err := s.Path(a)
	if err != nil {
		return err
	}
	v, err := a.Encode()
	if err != nil {
		return err
	}
	b, err := osv.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFileAtomic(p, b)
}

// WriteFileAtomic writes through a temp file in the same directory, fsyncs
// and renames (pkg/atomicfile), so readers never see half a file.
func WriteFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

const stateFile = "sync-state.json"

// SyncState is kept per source: when it last ran and, for polled APIs, the
// end of the last lastModified window fetched.
type SyncState struct {
	Source      string    `json:"source"`
	LastSync    time.Time `json:"last_sync"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	Inputs      []string  `json:"inputs,omitempty"`
	RecordCount int       `json:"record_count"`
}

// ReadState reads a source's sync state (zero when never synced).
func (s Store) ReadState(source string) (SyncState, error) {
	var st SyncState
	b, err := os.ReadFile(filepath.Join(s.Root, source, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return SyncState{Source: source}, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(s.Root, source, stateFile), err)
	}
	return st, nil
}

func (s Store) writeState(st SyncState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return WriteFileAtomic(filepath.Join(s.Root, st.Source, stateFile), append(b, '\n'))
}

// Skip is an input record an importer could not use, with the reason.
type Skip struct {
	Ref    string `json:"ref"`
	Reason string `json:"reason"`
}

// SyncReport counts what a sync did.
type SyncReport struct {
	Source    string   `json:"source"`
	Added     []string `json:"added"`
	Updated   []string `json:"updated"`
	Withdrawn []string `json:"withdrawn"`
	Unchanged int      `json:"unchanged"`
	Skipped   []Skip   `json:"skipped"`
	Conflicts []string `json:"conflicts"`
}

// SyncOptions configure Sync.
type SyncOptions struct {
	Source string
	// Full means the input is a complete snapshot: records of this source
	// missing from it are withdrawn. Incremental feeds (NVD windows) are not.
	Full   bool
	Now    time.Time
	Inputs []string
	// WindowEnd is recorded in the state for polled APIs.
	WindowEnd time.Time
}

// Sync merges imported records into the store, idempotently: an unchanged
// record is not rewritten, a new one is stamped "detected" at opts.Now, a
// changed one keeps its history and gets an "updated" event, and (for full
// snapshots) one that disappeared is withdrawn.
func (s Store) Sync(in []*Advisory, skipped []Skip, opts SyncOptions) (*SyncReport, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC()
	}
	rep := &SyncReport{Source: opts.Source, Skipped: skipped}
	old, err := s.Load(opts.Source)
	if err != nil {
		return nil, err
	}
	for _, e := range old.Errors {
		return nil, fmt.Errorf("store has an unreadable record, fix or remove it first: %w", e)
	}
	byID := map[string]*Advisory{}
	for _, a := range old.Advisories {
		byID[a.OSV.ID] = a
	}
	seen := map[string]bool{}
	pkgCVE := map[string]string{}
	for _, a := range in {
		a.Keel.Source = opts.Source
		if seen[a.OSV.ID] {
			rep.Skipped = append(rep.Skipped, Skip{Ref: a.OSV.ID, Reason: "duplicate id in input"})
			continue
		}
		seen[a.OSV.ID] = true
		key := a.Keel.Package + " " + a.Keel.CVE
		if prev, ok := pkgCVE[key]; ok {
			// Both are kept; the scan reports the pair as a conflict if they disagree.
			rep.Conflicts = append(rep.Conflicts, fmt.Sprintf("%s and %s both cover %s in %s", prev, a.OSV.ID, a.Keel.CVE, a.Keel.Package))
		}
		pkgCVE[key] = a.OSV.ID
		if err := a.Check(); err != nil {
			rep.Skipped = append(rep.Skipped, Skip{Ref: a.OSV.ID, Reason: err.Error()})
			continue
		}
		cur := byID[a.OSV.ID]
		switch {
		case cur == nil:
			a.Keel.Events = append([]Event{{Time: opts.Now, Type: EventDetected, EVR: a.FixedEVR()}}, a.Keel.Events...)
			if a.FixedEVR() != "" && a.Keel.FixAvailable == nil {
				a.Keel.FixAvailable = fixClock(a, opts.Now)
			}
			a.OSV.Modified = opts.Now
			rep.Added = append(rep.Added, a.OSV.ID)
		case contentHash(cur) == contentHash(a) && cur.OSV.Withdrawn == nil:
			rep.Unchanged++
			continue
		default:
			a.Keel.Events = cur.Keel.Events
			a.Keel.FixAvailable = cur.Keel.FixAvailable
			if cur.OSV.Withdrawn != nil {
				a.Keel.Events = append(a.Keel.Events, Event{Time: opts.Now, Type: EventReinstated})
			}
			detail := describeChange(cur, a)
			a.Keel.Events = append(a.Keel.Events, Event{Time: opts.Now, Type: EventUpdated, EVR: a.FixedEVR(), Detail: detail})
			if a.FixedEVR() != "" && a.Keel.FixAvailable == nil {
				a.Keel.FixAvailable = fixClock(a, opts.Now)
			}
			a.OSV.Modified = opts.Now
			rep.Updated = append(rep.Updated, a.OSV.ID)
		}
		if err := s.Write(a); err != nil {
			return nil, err
		}
	}
	if opts.Full {
		for _, cur := range old.Advisories {
			if seen[cur.OSV.ID] || cur.OSV.Withdrawn != nil {
				continue
			}
			t := opts.Now
			cur.OSV.Withdrawn = &t
			cur.OSV.Modified = t
			cur.Keel.Events = append(cur.Keel.Events, Event{Time: t, Type: EventWithdrawn, Detail: "absent from the latest snapshot"})
			if err := s.Write(cur); err != nil {
				return nil, err
			}
			rep.Withdrawn = append(rep.Withdrawn, cur.OSV.ID)
		}
	}
	sort.Strings(rep.Added)
	sort.Strings(rep.Updated)
	sort.Strings(rep.Withdrawn)
	st, err := s.ReadState(opts.Source)
	if err != nil {
		return nil, err
	}
	st.Source, st.LastSync, st.Inputs = opts.Source, opts.Now, opts.Inputs
	if !opts.WindowEnd.IsZero() {
		st.WindowEnd = opts.WindowEnd
	}
	st.RecordCount = len(byID) + len(rep.Added)
	if err := s.writeState(st); err != nil {
		return nil, err
	}
	return rep, nil
}

// fixClock is when the SLA clock starts for an imported fix: the feed's
// publication date when it has one (the fix was announced then), else now.
func fixClock(a *Advisory, now time.Time) *time.Time {
	t := now
	if a.OSV.Published != nil && a.OSV.Published.Before(now) {
		t = *a.OSV.Published
	}
	return &t
}

// contentHash covers what a feed says, not what Keel adds over time
// (events, modification and detection stamps).
func contentHash(a *Advisory) string {
	c := *a
	c.OSV.Modified = time.Time{}
	c.OSV.Withdrawn = nil
	c.OSV.DatabaseSpecific = nil
	c.Keel.Events = nil
	c.Keel.FixAvailable = nil
	c.Keel.Source = ""
	v, _ := c.Encode()
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func describeChange(old, new *Advisory) string {
	var d []string
	if o, n := old.FixedEVR(), new.FixedEVR(); o != n {
		d = append(d, fmt.Sprintf("fixed %s -> %s", orNone(o), orNone(n)))
	}
	if old.Keel.Severity != new.Keel.Severity {
		d = append(d, fmt.Sprintf("severity %s -> %s", orNone(old.Keel.Severity), orNone(new.Keel.Severity)))
	}
	if old.Keel.Status != new.Keel.Status {
		d = append(d, fmt.Sprintf("status %s -> %s", old.Keel.Status, new.Keel.Status))
	}
	if len(d) == 0 {
		return "metadata changed"
	}
	return strings.Join(d, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Equal reports whether two encoded records are byte-identical (tests).
func Equal(a, b *Advisory) bool {
	x, _ := a.Encode()
	y, _ := b.Encode()
	bx, _ := osv.Marshal(x)
	by, _ := osv.Marshal(y)
	return bytes.Equal(bx, by)
}
