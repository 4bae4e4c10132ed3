// Package sandbox runs a command in a bubblewrap container: a fresh root
// holding only the host's /usr and /etc (read-only) and the merged-/usr
// links, private /tmp, /var/tmp and /run, no network, fresh PID/IPC/UTS
// namespaces, a clean environment. Home directories, /root, /srv and the
// caller's working tree are invisible unless bound in. It needs no root when the
// kernel allows unprivileged user namespaces (Debian 12 does); as root it
// needs nothing else.
package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
)

// Spec describes one sandboxed command.
type Spec struct {
	Binds   map[string]string // host path -> sandbox path, writable
	ROBinds map[string]string // host path -> sandbox path, read-only
	Tmpfs   []string          // extra tmpfs mounts (besides /tmp, /var/tmp, /run)
	Env     map[string]string // the whole environment (nothing is inherited)
	Dir     string            // working directory inside the sandbox
	Net     bool              // keep the host network (default: none)
	// None runs the command directly on the host with the same environment:
	// for machines without bubblewrap (keel.yaml build.sandbox: none).
	None bool
}

// HostDirs are the host's top-level directories a sandbox sees (read-only),
// or recreates as links where the host has merged /usr.
var HostDirs = []string{"usr", "etc", "bin", "sbin", "lib", "lib64", "lib32", "libx32"}

// Command builds the exec.Cmd; the caller sets Stdout/Stderr and runs it.
func Command(ctx context.Context, s Spec, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("sandbox: empty command")
	}
	env := make([]string, 0, len(s.Env))
	for _, k := range sortedKeys(s.Env) {
		env = append(env, k+"="+s.Env[k])
	}
	if s.None {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Dir = s.Dir
		for host, inside := range s.Binds {
			if host != inside {
				return nil, fmt.Errorf("sandbox: none cannot map %s to %s; use bwrap", host, inside)
			}
		}
		return cmd, nil
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, fmt.Errorf("sandbox: bwrap not found (apt-get install bubblewrap, or set build.sandbox: none in keel.yaml): %w", err)
	}
	args := []string{"--tmpfs", "/"}
	for _, d := range HostDirs {
		if target, err := os.Readlink("/" + d); err == nil {
			args = append(args, "--symlink", target, "/"+d)
		} else if st, err := os.Stat("/" + d); err == nil && st.IsDir() {
			args = append(args, "--ro-bind", "/"+d, "/"+d)
		}
	}
	args = append(args,
		"--dev", "/dev",
		"--proc", "/proc",
		"--tmpfs", "/tmp",
		"--tmpfs", "/var/tmp",
		"--tmpfs", "/run",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "keel-sandbox",
		"--die-with-parent", "--new-session",
		"--clearenv",
	)
	if !s.Net {
		args = append(args, "--unshare-net")
	}
	if os.Getuid() != 0 {
		args = append(args, "--unshare-user", "--uid", "0", "--gid", "0")
	}
	for _, t := range s.Tmpfs {
		args = append(args, "--tmpfs", t)
	}
	for _, host := range sortedKeys(s.ROBinds) {
		args = append(args, "--ro-bind", host, s.ROBinds[host])
	}
	for _, host := range sortedKeys(s.Binds) {
		args = append(args, "--bind", host, s.Binds[host])
	}
	for _, k := range sortedKeys(s.Env) {
		args = append(args, "--setenv", k, s.Env[k])
	}
	if s.Dir != "" {
		args = append(args, "--chdir", s.Dir)
	}
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, bwrap, args...)
	cmd.Env = env
	return cmd, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
