package initramfs

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// ModuleDeps is modules.dep: module path (relative to lib/modules/<release>)
// to the paths of the modules it needs.
type ModuleDeps map[string][]string

// ParseModulesDep reads depmod's modules.dep ("kernel/x.ko: kernel/y.ko ...").
func ParseModulesDep(r io.Reader, name string) (ModuleDeps, error) {
	deps := ModuleDeps{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		mod, rest, ok := strings.Cut(l, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" || !isModulePath(mod) {
			return nil, fmt.Errorf("%s:%d: want \"path.ko: dependency.ko ...\", got %q", name, line, truncate(l))
		}
		if _, dup := deps[mod]; dup {
			return nil, fmt.Errorf("%s:%d: module %s listed twice", name, line, mod)
		}
		list := strings.Fields(rest)
		for _, d := range list {
			if !isModulePath(d) {
				return nil, fmt.Errorf("%s:%d: dependency %q of %s is not a module path", name, line, truncate(d), mod)
			}
		}
		deps[mod] = list
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return deps, nil
}

func isModulePath(p string) bool {
	return strings.Contains(p, ".ko") && !strings.HasPrefix(p, "/") && !strings.Contains(p, "..") && path.Clean(p) == p
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ModuleName is the name modprobe uses for a path: base name without .ko*,
// dashes as underscores.
func ModuleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// Order returns the module paths to load for the wanted modules (names such
// as "dm-verity" or "virtio_blk"), each after everything it depends on, in
// the order wanted; dependencies shared by several come once. Wanted modules
// in builtin (names from modules.builtin) need no loading and are skipped.
func (d ModuleDeps) Order(want []string, builtin map[string]bool) ([]string, error) {
	byName := make(map[string]string, len(d))
	for p := range d {
		byName[ModuleName(p)] = p
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, chain []string) error
	visit = func(p string, chain []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("modules.dep: dependency cycle %s -> %s", strings.Join(chain, " -> "), p)
		}
		state[p] = 1
		deps, ok := d[p]
		if !ok {
			return fmt.Errorf("modules.dep: %s (needed by %s) is not listed", p, strings.Join(chain, " -> "))
		}
		// modules.dep lists a module's whole closure; visiting each keeps
		// order right even when the list is not topologically sorted.
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		order = append(order, p)
		return nil
	}
	for _, w := range want {
		name := strings.ReplaceAll(w, "-", "_")
		p, ok := byName[name]
		if !ok && builtin[name] {
			continue
		}
		if !ok {
			return nil, fmt.Errorf("module %q is not in modules.dep (built in, or missing from this kernel?)", w)
		}
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ParseModulesBuiltin reads modules.builtin (one module path a line) into
// a set of module names.
func ParseModulesBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			set[ModuleName(l)] = true
		}
	}
	return set, sc.Err()
}
