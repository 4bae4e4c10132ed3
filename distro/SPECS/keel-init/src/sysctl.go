package main

// sysctl.d(5) at boot: the files of /usr/lib/sysctl.d (keel-release's
// 50-keel.conf), /run/sysctl.d and /etc/sysctl.d (the image's
// 90-image.conf), one name across the directories with /etc first, applied
// in file-name order; every key set is read back from /proc/sys as the
// fact sysctl.KEY — what the kernel really has, not what was asked.

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var sysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d"}

func applySysctl() {
	files := map[string]string{} // base name -> path (earlier directory wins)
	for _, d := range sysctlDirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if _, seen := files[e.Name()]; !seen && strings.HasSuffix(e.Name(), ".conf") {
				files[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	keys := map[string]bool{}
	var errs []string
	for _, n := range names {
		b, err := os.ReadFile(files[n]) // a link to /dev/null masks: empty
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := parseSysctlLine(l)
			if !ok {
				continue
			}
			ignoreErr := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := os.WriteFile(p, []byte(v), 0); err != nil && !ignoreErr {
				errs = append(errs, k+": "+errText(err))
			}
			keys[k] = true
		}
	}
	set := make([]string, 0, len(keys))
	for k := range keys {
		set = append(set, k)
	}
	sort.Strings(set)
	for _, k := range set {
		fact("sysctl."+k, readTrim("/proc/sys/"+strings.ReplaceAll(k, ".", "/")))
	}
	if len(errs) > 0 {
		fact("sysctl.errors", strings.Join(errs, "; "))
	}
}

// parseSysctlLine reads "key = value" ('#' and ';' comments, '/' as '.').
func parseSysctlLine(l string) (k, v string, ok bool) {
	l = strings.TrimSpace(l)
	if l == "" || l[0] == '#' || l[0] == ';' {
		return "", "", false
	}
	k, v, ok = strings.Cut(l, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || strings.Contains(k, "..") {
		return "", "", false
	}
	return strings.ReplaceAll(k, "/", "."), v, true
}
