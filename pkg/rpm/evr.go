// Package rpm reads and compares RPM packages: EVR comparison (rpmvercmp),
// headers, payloads and dependency ranges.
package rpm

import (
	"fmt"
	"strconv"
	"strings"
)

// EVR is an epoch:version-release triple. An empty Release means "any"
// when the EVR is used as a dependency bound.
type EVR struct {
	Epoch   int // 0 when absent
	Version string
	Release string
}

// ParseEVR parses "[epoch:]version[-release]". The release is what follows
// the last '-', as rpm splits it.
func ParseEVR(s string) (EVR, error) {
	var e EVR
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		ep := rest[:i]
		if ep == "" {
			ep = "0"
		}
		n, err := strconv.Atoi(ep)
		if err != nil || n < 0 {
			return EVR{}, fmt.Errorf("evr %q: epoch %q is not a non-negative integer", s, ep)
		}
		e.Epoch = n
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		e.Version, e.Release = rest[:i], rest[i+1:]
	} else {
		e.Version = rest
	}
	if e.Version == "" {
		return EVR{}, fmt.Errorf("evr %q: empty version", s)
	}
	return e, nil
}

// MustEVR is ParseEVR for literals in tests and tables; it panics on error.
func MustEVR(s string) EVR {
	e, err := ParseEVR(s)
	if err != nil {
		panic(err)
	}
	return e
}

// String renders the EVR the way rpm prints it, with the epoch only when non-zero.
func (e EVR) String() string {
	var b strings.Builder
	if e.Epoch != 0 {
		b.WriteString(strconv.Itoa(e.Epoch))
		b.WriteByte(':')
	}
	b.WriteString(e.Version)
	if e.Release != "" {
		b.WriteByte('-')
		b.WriteString(e.Release)
	}
	return b.String()
}

// Full renders the EVR with an explicit epoch ("0:1.2-3"), as OVAL and OSV use it.
func (e EVR) Full() string {
	s := strconv.Itoa(e.Epoch) + ":" + e.Version
	if e.Release != "" {
		s += "-" + e.Release
	}
	return s
}

// Compare orders two EVRs as rpm's rpmverCmp does: epoch, then version,
// then release, each with rpmvercmp; a missing release sorts before any
// present one (so "1" < "1-~rc", unlike a bare rpmvercmp of "" and "~rc").
func Compare(a, b EVR) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := Vercmp(a.Version, b.Version); c != 0 {
		return c
	}
	switch {
	case a.Release == "" && b.Release != "":
		return -1
	case a.Release != "" && b.Release == "":
		return 1
	}
	return Vercmp(a.Release, b.Release)
}

// CompareBound orders a against a dependency bound b: when the bound has no
// release, any release of the same version matches (as rpmdsCompare does).
func CompareBound(a, b EVR) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := Vercmp(a.Version, b.Version); c != 0 {
		return c
	}
	if a.Release == "" || b.Release == "" {
		return 0
	}
	return Vercmp(a.Release, b.Release)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// Vercmp is rpm's rpmvercmp: it splits both strings into alternating numeric
// and alphabetic segments, skipping separators; '~' sorts before anything
// (even the end of the string) and '^' sorts after the end but before any
// other segment.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	// rpm works on C strings: nothing after a NUL byte takes part.
	if i := strings.IndexByte(a, 0); i >= 0 {
		a = a[:i]
	}
	if i := strings.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	one, two := a, b
	for len(one) > 0 || len(two) > 0 {
		for len(one) > 0 && !isAlnum(one[0]) && one[0] != '~' && one[0] != '^' {
			one = one[1:]
		}
		for len(two) > 0 && !isAlnum(two[0]) && two[0] != '~' && two[0] != '^' {
			two = two[1:]
		}
		if hasByte(one, '~') || hasByte(two, '~') {
			if !hasByte(one, '~') {
				return 1
			}
			if !hasByte(two, '~') {
				return -1
			}
			one, two = one[1:], two[1:]
			continue
		}
		if hasByte(one, '^') || hasByte(two, '^') {
			if len(one) == 0 {
				return -1
			}
			if len(two) == 0 {
				return 1
			}
			if !hasByte(one, '^') {
				return 1
			}
			if !hasByte(two, '^') {
				return -1
			}
			one, two = one[1:], two[1:]
			continue
		}
		if len(one) == 0 || len(two) == 0 {
			break
		}
		isNum := isDigit(one[0])
		class := isAlpha
		if isNum {
			class = isDigit
		}
		i := 0
		for i < len(one) && class(one[i]) {
			i++
		}
		j := 0
		for j < len(two) && class(two[j]) {
			j++
		}
		seg1, seg2 := one[:i], two[:j]
		one, two = one[i:], two[j:]
		if len(seg2) == 0 {
			if isNum {
				return 1
			}
			return -1
		}
		if isNum {
			seg1 = strings.TrimLeft(seg1, "0")
			seg2 = strings.TrimLeft(seg2, "0")
			if len(seg1) != len(seg2) {
				if len(seg1) > len(seg2) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(seg1, seg2); c != 0 {
			return c
		}
	}
	if len(one) == 0 && len(two) == 0 {
		return 0
	}
	if len(one) == 0 {
		return -1
	}
	return 1
}

func hasByte(s string, c byte) bool { return len(s) > 0 && s[0] == c }
