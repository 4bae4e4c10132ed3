package advisory

import (
	"fmt"
	"time"
)

// SLAPolicy sets how long a fix may take once it exists. The YAML shape
// (distro/keel.yaml, "security.sla") is documented in docs/security.md.
type SLAPolicy struct {
	// Days per severity; 0 means "the next monthly roll-up".
	Critical int `json:"critical" yaml:"critical"`
	High     int `json:"high" yaml:"high"`
	Medium   int `json:"medium" yaml:"medium"`
	Low      int `json:"low" yaml:"low"`
	Unknown  int `json:"unknown" yaml:"unknown"`
	// RollupDay is the day of the month the roll-up ships (1-28).
	RollupDay int `json:"rollup_day" yaml:"rollup_day"`
	// KEVAsCritical treats known-exploited CVEs as Critical.
	KEVAsCritical bool `json:"kev_as_critical" yaml:"kev_as_critical"`
	// DueSoonDays marks open items this close to their deadline.
	DueSoonDays int `json:"due_soon_days" yaml:"due_soon_days"`
}

// DefaultSLA is Keel's policy: Critical 7 days, High 14, Medium and Low (and
// unrated) with the next monthly roll-up on the 1st, KEV as Critical.
func DefaultSLA() SLAPolicy {
	return SLAPolicy{Critical: 7, High: 14, RollupDay: 1, KEVAsCritical: true, DueSoonDays: 3}
}

// Validate rejects nonsensical settings.
func (p SLAPolicy) Validate() error {
	for name, d := range map[string]int{"critical": p.Critical, "high": p.High, "medium": p.Medium, "low": p.Low, "unknown": p.Unknown, "due_soon_days": p.DueSoonDays} {
		if d < 0 {
			return fmt.Errorf("sla.%s: %d days is negative", name, d)
		}
	}
	if p.RollupDay < 1 || p.RollupDay > 28 {
		return fmt.Errorf("sla.rollup_day: %d, expected 1..28 (every month has it)", p.RollupDay)
	}
	return nil
}

// Deadline is when a fix available since start must ship.
func (p SLAPolicy) Deadline(severity string, kev bool, start time.Time) time.Time {
	if kev && p.KEVAsCritical {
		severity = "Critical"
	}
	days := map[string]int{"Critical": p.Critical, "High": p.High, "Medium": p.Medium, "Low": p.Low}[NormalizeSeverity(severity)]
	if NormalizeSeverity(severity) == "Unknown" {
		days = p.Unknown
	}
	if days > 0 {
		return start.Add(time.Duration(days) * 24 * time.Hour)
	}
	// The first roll-up strictly after the fix appeared.
	start = start.UTC()
	r := time.Date(start.Year(), start.Month(), p.RollupDay, 0, 0, 0, 0, time.UTC)
	if !r.After(start) {
		r = r.AddDate(0, 1, 0)
	}
	return r
}

// SLA states.
const (
	SLANoFix   = "no-fix"   // no fix exists: the clock has not started
	SLAOpen    = "open"     // fix exists, not shipped, deadline ahead
	SLADueSoon = "due-soon" // within DueSoonDays of the deadline
	SLABreach  = "breached" // deadline passed and still not shipped
	SLAMet     = "met"      // shipped on time
	SLALate    = "met-late" // shipped after the deadline
)

// SLAState classifies one finding. shipped is when the fix shipped (zero if
// still affected).
func (p SLAPolicy) SLAState(severity string, kev bool, fixAvailable *time.Time, shipped, now time.Time) (state string, deadline time.Time) {
	if fixAvailable == nil {
		return SLANoFix, time.Time{}
	}
	deadline = p.Deadline(severity, kev, *fixAvailable)
	if !shipped.IsZero() {
		if shipped.After(deadline) {
			return SLALate, deadline
		}
		return SLAMet, deadline
	}
	switch {
	case now.After(deadline):
		return SLABreach, deadline
	case deadline.Sub(now) <= time.Duration(p.DueSoonDays)*24*time.Hour:
		return SLADueSoon, deadline
	}
	return SLAOpen, deadline
}

// ClockStart is when a record's SLA clock starts: when a fix became
// available, but never before Keel first detected the CVE (a fix that
// predates tracking cannot make the tracker late). nil: no fix yet.
func (a *Advisory) ClockStart() *time.Time {
	if a.Keel.FixAvailable == nil {
		return nil
	}
	t := *a.Keel.FixAvailable
	for _, e := range a.Keel.Events {
		if e.Type == EventDetected {
			if e.Time.After(t) {
				t = e.Time
			}
			break
		}
	}
	return &t
}
