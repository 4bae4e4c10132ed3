// Package selinux compiles a distribution's SELinux policy (CIL sources)
// into the binary policy the kernel loads and the file contexts that label
// an image's files, and reads file_contexts (the format libselinux and
// mkfs.erofs --file-contexts read).
package selinux

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// PolicyVersion is the binary policy format written: the newest the 6.1
// and 6.12 kernels load (/sys/fs/selinux/policyvers reports 33 on both).
const PolicyVersion = 33

// Paths of the policy inside an image (SELINUXTYPE=keel).
const (
	ConfigPath       = "/etc/selinux/config"
	PolicyPath       = "/etc/selinux/keel/policy/policy.33"
	FileContextsPath = "/etc/selinux/keel/contexts/files/file_contexts"
)

// Modes of the image key selinux:.
var Modes = []string{"disabled", "permissive", "enforcing"}

// Policy is a compiled policy.
type Policy struct {
	Binary       []byte // the kernel's binary policy (policy.33)
	FileContexts []byte // file_contexts, from the sources' filecon statements
	Sources      []string
	SHA256       string // of Binary
	// ServiceDomains are the types a module made service domains
	// ((call service_domain (TYPE))): the only domains keel-init may start
	// a supervised service in.
	ServiceDomains map[string]bool
}

// Sources lists the CIL files under dir (recursively), sorted: the
// policy is every .cil file there.
func Sources(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".cil") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("SELinux policy sources: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("SELinux policy sources: no .cil files in %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

// secilcAt finds where secilc's error output points: "... at FILE:LINE"
// or "... at line LINE of FILE".
var secilcAt = regexp.MustCompile(`at (\S+):(\d+)|at line (\d+) of (\S+)`)

// Compile runs the host's secilc over the CIL files in dir. A policy that
// does not compile (a syntax error, a type no statement declares, a
// neverallow broken) is an error naming the file, line and statement.
func Compile(ctx context.Context, dir string) (*Policy, error) {
	srcs, err := Sources(dir)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("secilc"); err != nil {
		return nil, errors.New("SELinux policy: secilc not found (Debian package secilc; scripts/setup installs it)")
	}
	work, err := os.MkdirTemp("", "keel-selinux-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	bin, fc := filepath.Join(work, "policy"), filepath.Join(work, "file_contexts")
	args := append([]string{"--policyvers=" + strconv.Itoa(PolicyVersion), "-o", bin, "-f", fc}, srcs...)
	cmd := exec.CommandContext(ctx, "secilc", args...)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, compileError(out, err)
	}
	p := &Policy{Sources: srcs}
	if p.Binary, err = os.ReadFile(bin); err != nil {
		return nil, err
	}
	if p.FileContexts, err = os.ReadFile(fc); err != nil {
		return nil, err
	}
	// Read back what mkfs.erofs and keel-init will read: secilc checks the
	// labels, this checks the file's own syntax.
	if _, err := ParseFileContexts("file_contexts", p.FileContexts); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(p.Binary)
	p.SHA256 = hex.EncodeToString(sum[:])
	p.ServiceDomains = map[string]bool{}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		for _, m := range serviceCall.FindAllSubmatch(b, -1) {
			p.ServiceDomains[string(m[1])] = true
		}
	}
	return p, nil
}

// serviceCall is base.cil's macro applied to a type (secilc has resolved
// it: the sources compiled).
var serviceCall = regexp.MustCompile(`\(call\s+service_domain\s+\(\s*([A-Za-z0-9_]+)\s*\)\s*\)`)

// ServiceDomain is the domain of service name by convention: name with
// '-' and '.' as '_', then _t (sshd: sshd_t, keel-agent: keel_agent_t).
func ServiceDomain(name string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(name) + "_t"
}

// compileError quotes secilc's first complaint and the source line it names.
func compileError(out []byte, err error) error {
	msg := strings.TrimSpace(string(out))
	if msg == "" {
		msg = err.Error()
	}
	first, _, _ := strings.Cut(msg, "\n")
	m := secilcAt.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("SELinux policy does not compile (secilc): %s", msg)
	}
	file, line := m[1], m[2]
	if file == "" {
		file, line = m[4], m[3]
	}
	n, _ := strconv.Atoi(line)
	stmt := sourceLine(file, n)
	if stmt != "" {
		stmt = ": " + stmt
	}
	return fmt.Errorf("%s:%s: SELinux policy does not compile%s (secilc: %s)", file, line, stmt, first)
}

func sourceLine(file string, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return strings.TrimSpace(sc.Text())
		}
	}
	return ""
}

// Config is /etc/selinux/config for mode (permissive or enforcing).
func Config(mode string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by keel image build (the image's selinux: key); keel-init reads it.\nSELINUX=%s\nSELINUXTYPE=keel\n", mode)
	return b.Bytes()
}
