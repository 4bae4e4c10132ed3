package main

// Kernel modules on the real root, by name, resolved through the root's
// /usr/lib/modules/RELEASE/modules.dep (dependencies first, as modprobe).

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// loadModulesByName loads each named module with its dependencies. A name
// the kernel has built in (modules.builtin) or does not have at all is
// skipped; a module that exists and does not load is failed.
func loadModulesByName(names []string) (loaded int, failed []string) {
	if len(names) == 0 {
		return 0, nil
	}
	var u syscall.Utsname
	syscall.Uname(&u)
	dir := filepath.Join("/usr/lib/modules", cstr(u.Release[:]))
	deps := map[string][]string{} // name -> [path, dependency paths...]
	if f, err := os.Open(filepath.Join(dir, "modules.dep")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			p, rest, ok := strings.Cut(sc.Text(), ":")
			if ok {
				deps[modName(p)] = append([]string{p}, strings.Fields(rest)...)
			}
		}
		f.Close()
	}
	done := map[string]bool{}
	var load func(p string) error
	load = func(p string) error {
		if done[p] {
			return nil
		}
		done[p] = true
		d := deps[modName(p)]
		// modules.dep lists the closure, the deepest last: load from the end.
		for i := len(d) - 1; i >= 1; i-- {
			if err := load(d[i]); err != nil {
				return err
			}
		}
		return finitModule(filepath.Join(dir, p))
	}
	for _, n := range names {
		d, ok := deps[modName(n)]
		if !ok {
			continue // built in, or not in this kernel (hv_netvsc off Hyper-V kernels)
		}
		if err := load(d[0]); err != nil {
			failed = append(failed, n+": "+errText(err))
			continue
		}
		loaded++
	}
	return loaded, failed
}

// modName is the module name of a path or name: nf_tables for
// kernel/net/netfilter/nf_tables.ko.xz, '-' and '_' alike.
func modName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

func joinSorted(s []string) string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return strings.Join(s, "; ")
}
