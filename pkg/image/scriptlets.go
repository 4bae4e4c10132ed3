package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/keel-linux/keel/pkg/rootfs"
	"github.com/keel-linux/keel/pkg/rpm"
)

// Scriptlet tags rpm runs when installing (erase-time ones never run in a
// fresh image). Triggers fire on other packages' installs.
var (
	installScripts = []struct {
		name       string
		body, prog rpm.Tag
	}{
		{"%pretrans", 1151, 1153},
		{"%pre", rpm.TagPreIn, rpm.TagPreInProg},
		{"%post", rpm.TagPostIn, rpm.TagPostInProg},
		{"%posttrans", 1152, 1154},
	}
	triggerTags = map[string]rpm.Tag{"%trigger": 1065, "%filetrigger": 5066, "%transfiletrigger": 5076}
)

type scriptlet struct {
	pkg, name string
	prog      []string
	body      string
}

// plan is what install does about scriptlets: built-in steps and the
// scriptlets to run in the sandbox.
type plan struct {
	ldconfig  bool
	sandboxed []scriptlet
}

func isLdconfig(s string) bool {
	s = strings.TrimSpace(s)
	return s == "/sbin/ldconfig" || s == "/usr/sbin/ldconfig" || s == "ldconfig"
}

// planScriptlets classifies every install-time scriptlet: known ones
// become built-ins, unknown ones run sandboxed when the definition allows
// it, are dropped only for packages it names (ignore:NAME), and otherwise
// fail the build.
func planScriptlets(d *Definition, pkgs []*rpm.Package) (*plan, error) {
	sandbox := false
	ignore := map[string]bool{}
	for _, s := range d.Scriptlets {
		if s == "sandbox" {
			sandbox = true
		}
		if n, ok := strings.CutPrefix(s, "ignore:"); ok {
			ignore[n] = true
		}
	}
	pl := &plan{}
	for _, p := range pkgs {
		h := p.Header
		name := h.Name()
		for tn, tag := range triggerTags {
			if h.Has(tag) && !ignore[name] {
				return nil, fmt.Errorf("%s has %s scriptlets; keel does not run triggers (add ignore:%s to scriptlets to drop them)", p.NEVRA(), tn, name)
			}
		}
		for _, st := range installScripts {
			body := h.String(st.body)
			prog := h.Strings(st.prog)
			if len(prog) == 0 && h.String(st.prog) != "" {
				prog = []string{h.String(st.prog)}
			}
			if body == "" && len(prog) == 0 {
				continue
			}
			switch {
			case len(prog) > 0 && isLdconfig(prog[0]) && strings.TrimSpace(body) == "":
				pl.ldconfig = true
			case body != "" && allLines(body, isLdconfig):
				pl.ldconfig = true
			case ignore[name]:
			case sandbox:
				if len(prog) == 0 {
					prog = []string{"/bin/sh"}
				}
				pl.sandboxed = append(pl.sandboxed, scriptlet{pkg: p.NEVRA(), name: st.name, prog: prog, body: body})
			default:
				first := strings.SplitN(strings.TrimSpace(body), "\n", 2)[0]
				return nil, fmt.Errorf("%s has a %s scriptlet (%s) keel has no built-in for: allow it with scriptlets: [sandbox] (runs chrooted into the image) or drop it with ignore:%s", p.NEVRA(), st.name, first, name)
			}
		}
	}
	return pl, nil
}

func allLines(body string, f func(string) bool) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimSpace(l) != "" && !f(l) {
			return false
		}
	}
	return true
}

// run executes the plan against the image root r (at dir).
func (pl *plan) run(ctx context.Context, r *os.Root, dir string) error {
	for _, s := range pl.sandboxed {
		if err := runSandboxed(ctx, r, dir, s); err != nil {
			return err
		}
	}
	if pl.ldconfig {
		// Built-in ldconfig: the host's ldconfig rebuilds the image's
		// cache and links from the image's own ld.so.conf; -r resolves
		// every path inside the image (glibc's chroot_canon), and the tree
		// holds no escaping link (checkClosed ran before).
		if _, err := exec.LookPath("ldconfig"); err != nil {
			return fmt.Errorf("built-in ldconfig: %w", err)
		}
		cmd := exec.CommandContext(ctx, "ldconfig", "-r", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("built-in ldconfig: %v: %s", err, out)
		}
		// aux-cache holds host timestamps.
		if err := removeIn(r, "/var/cache/ldconfig"); err != nil {
			return fmt.Errorf("built-in ldconfig: %w", err)
		}
	}
	return nil
}

// scriptletPath is where a scriptlet's body is, on the sandbox's own /tmp
// (a tmpfs): nothing is staged in the image, so no link a package planted
// there is written through.
const scriptletPath = "/tmp/.keel-scriptlet"

// runSandboxed runs a scriptlet with bubblewrap, the image bound as / (a
// chroot-style root, which pkg/sandbox does not build: it always shows the
// host's /usr), no network, fresh namespaces, a clean environment.
func runSandboxed(ctx context.Context, r *os.Root, dir string, s scriptlet) error {
	prog, err := rootfs.Resolve(r, s.prog[0])
	if err == nil {
		_, err = r.Stat(prog)
	}
	if err != nil {
		return fmt.Errorf("%s %s scriptlet needs %s, which the image does not have", s.pkg, s.name, s.prog[0])
	}
	body, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer body.Close()
	go func() {
		io.WriteString(w, s.body)
		w.Close()
	}()
	args := []string{"--bind", dir, "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run",
		"--perms", "0500", "--file", "3", scriptletPath,
		"--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
		"--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", "--setenv", "RPM_INSTALL_PREFIX", "/", "--chdir", "/", "--"}
	args = append(args, s.prog...)
	if s.body != "" {
		args = append(args, scriptletPath)
	}
	args = append(args, "1") // rpm passes the number of installed instances
	cmd := exec.CommandContext(ctx, "bwrap", args...)
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{body}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s scriptlet failed: %v\n%s", s.pkg, s.name, err, out.String())
	}
	return nil
}
