package boot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The facts protocol: keel-init writes these lines on the serial console.
//
//	KEEL-FACT <key>=<value>            value is Go-quoted when it starts with a
//	                                   quote or holds non-printable bytes
//	KEEL-STATUS ok facts=<n>           the report is complete (n facts before it)
//	KEEL-STATUS fail reason=<quoted>   keel-init stopped the boot
//
// Lines may be preceded by console noise; the markers are searched anywhere.
const (
	factMarker   = "KEEL-FACT "
	statusMarker = "KEEL-STATUS "
)

// Fact is one reported observation.
type Fact struct{ Key, Value string }

// parseFact parses the part of a console line after "KEEL-FACT ".
func parseFact(s string) (Fact, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t\"") {
		return Fact{}, fmt.Errorf("fact %q: want key=value", trunc(s))
	}
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return Fact{}, fmt.Errorf("fact %s: bad quoted value %q", k, trunc(v))
		}
		v = u
	}
	return Fact{Key: k, Value: v}, nil
}

// parseStatus parses the part after "KEEL-STATUS ": ok with a fact count, or
// fail with a reason.
func parseStatus(s string) (ok bool, n int, reason string, err error) {
	switch {
	case strings.HasPrefix(s, "ok facts="):
		n, err = strconv.Atoi(strings.TrimPrefix(s, "ok facts="))
		if err != nil || n < 0 {
			return false, 0, "", fmt.Errorf("status %q: bad fact count", trunc(s))
		}
		return true, n, "", nil
	case strings.HasPrefix(s, "fail reason="):
		r, err := strconv.Unquote(strings.TrimPrefix(s, "fail reason="))
		if err != nil {
			return false, 0, "", fmt.Errorf("status %q: bad reason", trunc(s))
		}
		return false, 0, r, nil
	}
	return false, 0, "", fmt.Errorf("status %q: want \"ok facts=N\" or \"fail reason=...\"", trunc(s))
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// Expectation is one assertion on a fact:
//
//	key=value    equal
//	key!=value   not equal (a missing fact fails)
//	key~=regexp  matches (Go regexp, unanchored)
//	key!~regexp  does not match
type Expectation struct {
	Key, Op, Value string
	re             *regexp.Regexp
}

// ParseExpectation reads the text forms above.
func ParseExpectation(s string) (Expectation, error) {
	for _, op := range []string{"!~", "~=", "!=", "="} {
		if i := strings.Index(s, op); i > 0 {
			e := Expectation{Key: s[:i], Op: op, Value: s[i+len(op):]}
			if strings.ContainsAny(e.Key, " =~!") {
				continue
			}
			if op == "~=" || op == "!~" {
				re, err := regexp.Compile(e.Value)
				if err != nil {
					return Expectation{}, fmt.Errorf("expectation %q: %w", s, err)
				}
				e.re = re
			}
			return e, nil
		}
	}
	return Expectation{}, fmt.Errorf("expectation %q: want key=value, key!=value, key~=regexp or key!~regexp", s)
}

// MustExpect parses expectations that are known good (presets).
func MustExpect(ss ...string) []Expectation {
	var out []Expectation
	for _, s := range ss {
		e, err := ParseExpectation(s)
		if err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	return out
}

func (e Expectation) String() string { return e.Key + e.Op + e.Value }

// check returns "" when met, else why not.
func (e Expectation) check(facts map[string]string) string {
	v, ok := facts[e.Key]
	if !ok {
		return fmt.Sprintf("%s: fact %s was not reported", e, e.Key)
	}
	var met bool
	switch e.Op {
	case "=":
		met = v == e.Value
	case "!=":
		met = v != e.Value
	case "~=":
		met = e.re.MatchString(v)
	case "!~":
		met = !e.re.MatchString(v)
	}
	if met {
		return ""
	}
	return fmt.Sprintf("%s: got %s=%q", e, e.Key, shown(e, v))
}

// Variant presets: the negative checks every image of a kind must pass.
// kernelRelease is what the manifest says was installed ("" skips that check).
func Expect(variant, kernelRelease string) ([]Expectation, error) {
	var ex []string
	if kernelRelease != "" {
		ex = append(ex, "kernel.release="+kernelRelease)
	}
	switch variant {
	case "vm", "hwe":
		ex = append(ex, "init.mode=root", "root.write=ok", "root.fstype=ext4", "root.options~=^rw[, ]")
	case "guard":
		ex = append(ex, "init.mode=root",
			// kernel: checked by dm-verity against the platform keyring
			// (UEFI); initramfs: by keel-init's Ed25519 check (booted
			// without firmware, where no keyring holds the distro key).
			"initrd.verity.signature~=^(kernel|initramfs)$",
			"root.write=EROFS", "root.fstype=erofs", "root.options~=^ro[, ]", "root.source~=^/dev/(dm-|mapper/)",
			"dm.root.status~=^0 [0-9]+ verity V$",
			"dm.root.table~= verity 1 .* (1 panic_on_corruption|3 panic_on_corruption root_hash_sig_key_desc keel:roothash)$")
	case "":
	default:
		return nil, fmt.Errorf("unknown variant %q (want vm, hwe or guard)", variant)
	}
	return MustExpect(ex...), nil
}
