// Package baseline checks an image root against a security baseline: the
// sysctl values its configuration sets (sysctl.d(5) semantics), no
// world-writable file or directory without the sticky bit, and an
// inventory of setuid/setgid files against an allow-list.
package baseline

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/keel-linux/keel/pkg/rootfs"
)

// Policy is what an image must meet.
type Policy struct {
	Sysctl        map[string]string `yaml:"sysctl" json:"sysctl"`                 // key -> required value
	SetuidAllowed []string          `yaml:"setuid_allowed" json:"setuid_allowed"` // paths (globs) that may be setuid/setgid
}

// DefaultPolicy is Keel Linux's baseline.
func DefaultPolicy() Policy {
	return Policy{Sysctl: map[string]string{
		"kernel.kptr_restrict":               "2",
		"kernel.dmesg_restrict":              "1",
		"kernel.randomize_va_space":          "2",
		"kernel.yama.ptrace_scope":           "1",
		"kernel.unprivileged_bpf_disabled":   "1",
		"fs.protected_symlinks":              "1",
		"fs.protected_hardlinks":             "1",
		"fs.protected_fifos":                 "1",
		"fs.protected_regular":               "2",
		"fs.suid_dumpable":                   "0",
		"vm.mmap_min_addr":                   "65536",
		"net.ipv4.tcp_syncookies":            "1",
		"net.ipv4.conf.all.rp_filter":        "1",
		"net.ipv4.conf.all.accept_redirects": "0",
		"net.ipv4.conf.all.send_redirects":   "0",
	}}
}

// Finding is one deviation.
type Finding struct {
	Check  string `json:"check"` // sysctl | world-writable | setuid
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

// Report is the full picture of one root.
type Report struct {
	Sysctl   map[string]string `json:"sysctl"` // effective configured values
	Setuid   []string          `json:"setuid"` // every setuid/setgid file
	Findings []Finding         `json:"findings"`
}

// sysctl.d(5) directories, lowest priority last: a file name in an earlier
// directory masks the same name in later ones.
var sysctlDirs = []string{"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"}

// Check inspects the image root at dir. Every read goes through an os.Root
// and resolves paths as the image would: no link in the image leads to a
// host file.
func Check(dir string, p Policy) (*Report, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rep := &Report{Sysctl: map[string]string{}, Setuid: []string{}, Findings: []Finding{}}
	files := map[string]string{} // basename -> path (first directory wins)
	for _, d := range sysctlDirs {
		rd, err := rootfs.Resolve(r, d)
		if err != nil {
			continue
		}
		ents, err := fs.ReadDir(r.FS(), rd)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				if _, ok := files[e.Name()]; !ok {
					files[e.Name()] = path.Join(rd, e.Name())
				}
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	ordered := []string{}
	for _, n := range names {
		ordered = append(ordered, files[n])
	}
	if _, err := r.Lstat("etc/sysctl.conf"); err == nil {
		ordered = append(ordered, "etc/sysctl.conf") // read last, as systemd-sysctl does
	}
	for _, rel := range ordered {
		if err := parseSysctl(r, rel, rep.Sysctl); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(p.Sysctl))
	for k := range p.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got, ok := rep.Sysctl[k]; !ok {
			rep.Findings = append(rep.Findings, Finding{"sysctl", k, fmt.Sprintf("not set (want %s)", p.Sysctl[k])})
		} else if got != p.Sysctl[k] {
			rep.Findings = append(rep.Findings, Finding{"sysctl", k, fmt.Sprintf("%s (want %s)", got, p.Sysctl[k])})
		}
	}
	err = fs.WalkDir(r.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel := "/" + name
		mode := info.Mode()
		if mode&fs.ModeSymlink != 0 {
			return nil
		}
		if mode.Perm()&0o002 != 0 {
			switch {
			case mode.IsDir() && mode&fs.ModeSticky == 0:
				rep.Findings = append(rep.Findings, Finding{"world-writable", rel, "world-writable directory without the sticky bit"})
			case !mode.IsDir():
				rep.Findings = append(rep.Findings, Finding{"world-writable", rel, "world-writable file"})
			}
		}
		if mode.IsRegular() && mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			rep.Setuid = append(rep.Setuid, rel)
			if !allowed(rel, p.SetuidAllowed) {
				rep.Findings = append(rep.Findings, Finding{"setuid", rel, fmt.Sprintf("%v not in setuid_allowed", mode)})
			}
		}
		return nil
	})
	return rep, err
}

func allowed(p string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// parseSysctl reads one sysctl.d file: "key = value", '#' or ';'
// comments, '-' prefix (ignore errors) dropped, '/' separators as '.'. A
// link to /dev/null masks the name (sysctl.d(5)); other links resolve in
// the image, and only regular files are read.
func parseSysctl(r *os.Root, rel string, into map[string]string) error {
	if dest, err := r.Readlink(rel); err == nil && path.Clean(dest) == "/dev/null" {
		return nil
	}
	real, err := rootfs.Resolve(r, rel)
	if err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	f, err := r.OpenFile(real, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a dangling link configures nothing
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("/%s: not a regular file", rel)
	}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("/%s:%d: want key = value, got %q", rel, line, s)
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		if strings.Contains(k, "/") && !strings.Contains(k, ".") {
			k = strings.ReplaceAll(k, "/", ".")
		}
		into[k] = strings.TrimSpace(v)
	}
	return sc.Err()
}
