// Package ipe writes policies for the Linux kernel's Integrity Policy
// Enforcement LSM (Documentation/admin-guide/LSM/ipe.rst): a header naming
// the policy and its version, a default action, and rules "op=... property...
// action=ALLOW|DENY", evaluated first match wins. IPE reads a policy only as a
// PKCS#7 signed message (securityfs ipe/new_policy), checked against the
// kernel's secondary and platform keyrings (pkg/kernelsig signs it).
package ipe

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Mode is how the kernel applies the policy: enforce denies what the policy
// denies; audit (IPE's permissive mode, securityfs ipe/enforce=0) logs the
// denial (an AUDIT_IPE_ACCESS record) and allows it.
type Mode string

const (
	Audit   Mode = "audit"
	Enforce Mode = "enforce"
)

// ParseMode reads an image definition's ipe: value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Audit, Enforce:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%q: want audit or enforce", s)
}

// Policy is an IPE policy.
type Policy struct {
	Name    string // policy_name: also the securityfs directory policies/<name>
	Version string // policy_version: major.minor.revision, each 0-65535
	Rules   []Rule
}

// Rule allows or denies one operation for files with all the properties.
type Rule struct {
	Op         string   // EXECUTE, KERNEL_READ, FIRMWARE, KMODULE, ...
	Properties []string // boot_verified=TRUE, dmverity_signature=TRUE, ...
	Allow      bool
}

// VerifiedOnly is the guard's policy: code runs only from the initramfs
// (boot_verified: the superblock the kernel unpacked, inside the signed UKI)
// and from dm-verity devices whose root hash signature the kernel checked
// (dmverity_signature); the kernel loads modules and firmware only from the
// same places. Everything else is denied (kexec images, IMA policies, X.509
// certificates read by the kernel).
func VerifiedOnly(name, version string) Policy {
	p := Policy{Name: name, Version: version}
	for _, op := range []string{"EXECUTE", "KMODULE", "FIRMWARE"} {
		for _, prop := range []string{"boot_verified=TRUE", "dmverity_signature=TRUE"} {
			p.Rules = append(p.Rules, Rule{Op: op, Properties: []string{prop}, Allow: true})
		}
	}
	return p
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}$`)
	tokenRE   = regexp.MustCompile(`^[A-Za-z0-9_]+(=[A-Za-z0-9_:.-]+)?$`)
)

// Validate checks what the kernel's parser would refuse, so a build fails
// instead of a boot.
func (p Policy) Validate() error {
	if !nameRE.MatchString(p.Name) {
		return fmt.Errorf("ipe: policy name %q: want letters, digits, '.', '_' or '-' (at most 64)", p.Name)
	}
	if !versionRE.MatchString(p.Version) {
		return fmt.Errorf("ipe: policy version %q: want major.minor.revision", p.Version)
	}
	for _, n := range strings.Split(p.Version, ".") {
		if v, _ := strconv.Atoi(n); v > 65535 {
			return fmt.Errorf("ipe: policy version %q: each part is at most 65535", p.Version)
		}
	}
	if len(p.Rules) == 0 {
		return errors.New("ipe: a policy without rules")
	}
	for i, r := range p.Rules {
		if !tokenRE.MatchString(r.Op) || strings.Contains(r.Op, "=") {
			return fmt.Errorf("ipe: rule %d: operation %q", i+1, r.Op)
		}
		for _, prop := range r.Properties {
			if !tokenRE.MatchString(prop) {
				return fmt.Errorf("ipe: rule %d: property %q: want name=value", i+1, prop)
			}
		}
	}
	return nil
}

// Text is the policy as the kernel reads it; anything not allowed is denied
// (DEFAULT action=DENY).
func (p Policy) Text() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "policy_name=%s policy_version=%s\nDEFAULT action=DENY\n", p.Name, p.Version)
	for _, r := range p.Rules {
		action := "DENY"
		if r.Allow {
			action = "ALLOW"
		}
		fmt.Fprintf(&b, "op=%s %s action=%s\n", r.Op, strings.Join(r.Properties, " "), action)
	}
	return []byte(b.String()), nil
}
