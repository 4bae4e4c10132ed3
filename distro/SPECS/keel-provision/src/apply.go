package main

// Applying a Config to the system under root ("/" on the instance, a
// directory in tests). Every file is written temp, fsync, rename; nothing
// applied here can open a login without a key: users get "*" as password
// (no password verifies; sshd's UsePAM-less lock check treats "*" as a
// key-only account, "!" as locked).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Applier applies a Config and reports what happened as facts.
type Applier struct {
	Root string
	// Chown gives users their home and files their owner (true on the
	// instance; tests may run unprivileged).
	Chown bool
	// CheckKey asks sshd's own parser (ssh-keygen -l) whether an
	// authorized_keys line is a key; nil accepts every line.
	CheckKey func(line string) error
	// SetHostname is sethostname(2) on the instance; nil in tests.
	SetHostname func(string) error
	// Run runs a runcmd entry; nil runs nothing.
	Run  func(ctx context.Context, c Command) (exit int, out string)
	Fact func(key, value string)
}

func (a *Applier) path(p string) string { return filepath.Join(a.Root, p) }

// Apply applies c in cloud-init's order: host name, users, files, commands.
func (a *Applier) Apply(ctx context.Context, c *Config) {
	if c.Hostname != "" {
		if err := writeFileAtomic(a.path("/etc/hostname"), []byte(c.Hostname+"\n"), 0o644, -1, -1); err != nil {
			a.Fact("hostname", "error: "+err.Error())
		} else {
			if a.SetHostname != nil {
				if err := a.SetHostname(c.Hostname); err != nil {
					a.Fact("hostname", "error: sethostname: "+err.Error())
				}
			}
			a.Fact("hostname", c.Hostname)
		}
	}
	for _, u := range c.Users {
		a.user(u)
	}
	for i, w := range c.WriteFiles {
		key := "write_files[" + strconv.Itoa(i) + "]"
		if err := a.writeFile(w); err != nil {
			a.Fact(key, w.Path+": error: "+err.Error())
		} else {
			a.Fact(key, w.Path)
		}
	}
	for i, cmd := range c.RunCmd {
		if a.Run == nil {
			continue
		}
		exit, out := a.Run(ctx, cmd)
		key := "runcmd[" + strconv.Itoa(i) + "]"
		a.Fact(key+".exit", strconv.Itoa(exit))
		a.Fact(key+".output", trunc(strings.TrimSpace(out), 1024))
	}
	for _, n := range c.Notes {
		a.Fact("note."+n.Key, n.Value)
	}
}

// user creates (or, on a new instance, updates) one account, its
// authorized_keys and its doas rule.
func (a *Applier) user(u User) {
	key := "user." + u.Name
	var keys []string
	for i, k := range u.Keys {
		if a.CheckKey != nil {
			if err := a.CheckKey(k); err != nil {
				a.Fact(fmt.Sprintf("%s.key[%d]", key, i), "rejected: "+err.Error())
				continue
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		// No key: the account could never log in; do not create it.
		a.Fact(key, "not created: no usable SSH key")
		return
	}
	uid, gid, home, err := a.account(u)
	if err != nil {
		a.Fact(key, "error: "+err.Error())
		return
	}
	ssh := filepath.Join(home, ".ssh")
	for _, d := range []string{home, ssh} {
		if err := os.MkdirAll(a.path(d), 0o700); err != nil {
			a.Fact(key, "error: "+err.Error())
			return
		}
		if a.Chown {
			os.Lchown(a.path(d), uid, gid)
		}
		os.Chmod(a.path(d), 0o700)
	}
	ak := []byte(strings.Join(keys, "\n") + "\n")
	if err := writeFileAtomic(a.path(filepath.Join(ssh, "authorized_keys")), ak, 0o600, a.owned(uid), gid); err != nil {
		a.Fact(key, "error: "+err.Error())
		return
	}
	v := fmt.Sprintf("uid=%d keys=%d", uid, len(keys))
	if u.Doas {
		if err := a.doas(u.Name); err != nil {
			v += " doas=error: " + err.Error()
		} else {
			v += " doas=nopass"
		}
	}
	a.Fact(key, v)
}

// account finds or adds the user (and its group) in /etc/passwd and
// /etc/group. System accounts (uid < 1000) are never touched.
func (a *Applier) account(u User) (uid, gid int, home string, err error) {
	passwd, err := os.ReadFile(a.path("/etc/passwd"))
	if err != nil {
		return 0, 0, "", err
	}
	group, err := os.ReadFile(a.path("/etc/group"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, "", err
	}
	usedUID, usedGID := map[int]bool{}, map[int]bool{}
	for _, l := range lines(passwd) {
		f := strings.Split(l, ":")
		if len(f) < 7 {
			continue
		}
		id, _ := strconv.Atoi(f[2])
		g, _ := strconv.Atoi(f[3])
		usedUID[id] = true
		if f[0] == u.Name {
			if id < 1000 {
				return 0, 0, "", fmt.Errorf("%s is a system account (uid %d): refused", u.Name, id)
			}
			return id, g, f[5], nil
		}
	}
	groupHas := false
	for _, l := range lines(group) {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		id, _ := strconv.Atoi(f[2])
		usedGID[id] = true
		if f[0] == u.Name {
			groupHas = true
			gid = id
		}
	}
	uid = 1000
	for usedUID[uid] || (!groupHas && usedGID[uid]) {
		uid++
	}
	if !groupHas {
		gid = uid
		group = append(withNewline(group), []byte(fmt.Sprintf("%s:x:%d:\n", u.Name, gid))...)
		if err := writeFileAtomic(a.path("/etc/group"), group, 0o644, -1, -1); err != nil {
			return 0, 0, "", err
		}
	}
	shell := u.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	if _, err := os.Stat(a.path(shell)); err != nil {
		a.Fact("user."+u.Name+".shell", shell+" does not exist: /bin/sh used")
		shell = "/bin/sh"
	}
	home = "/home/" + u.Name
	passwd = append(withNewline(passwd), []byte(fmt.Sprintf("%s:*:%d:%d:%s:%s:%s\n", u.Name, uid, gid, u.Gecos, home, shell))...)
	if err := writeFileAtomic(a.path("/etc/passwd"), passwd, 0o644, -1, -1); err != nil {
		return 0, 0, "", err
	}
	return uid, gid, home, nil
}

// doas adds "permit nopass NAME as root" to /etc/doas.conf once.
func (a *Applier) doas(name string) error {
	p := a.path("/etc/doas.conf")
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	rule := "permit nopass " + name + " as root"
	for _, l := range lines(b) {
		if strings.TrimSpace(l) == rule {
			return nil
		}
	}
	b = append(withNewline(b), []byte(rule+"\n")...)
	return writeFileAtomic(p, b, 0o600, a.owned(0), 0)
}

// owned is uid when owners are set, else -1 (unchanged).
func (a *Applier) owned(uid int) int {
	if a.Chown {
		return uid
	}
	return -1
}

func (a *Applier) writeFile(w WriteFile) error {
	uid, gid := 0, 0
	if w.Owner != "" {
		var err error
		if uid, gid, err = a.owner(w.Owner); err != nil {
			return err
		}
	}
	p := a.path(w.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	content := w.Content
	if w.Append {
		old, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		content = append(old, content...)
	}
	return writeFileAtomic(p, content, os.FileMode(w.Mode), a.owned(uid), gid)
}

// owner resolves "user" or "user:group" through /etc/passwd and /etc/group.
func (a *Applier) owner(s string) (uid, gid int, err error) {
	user, grp, hasGroup := strings.Cut(s, ":")
	passwd, _ := os.ReadFile(a.path("/etc/passwd"))
	uid, gid = -1, -1
	for _, l := range lines(passwd) {
		if f := strings.Split(l, ":"); len(f) >= 4 && f[0] == user {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
		}
	}
	if uid < 0 {
		return 0, 0, fmt.Errorf("owner %q: no such user", trunc(user, 40))
	}
	if hasGroup {
		gid = -1
		group, _ := os.ReadFile(a.path("/etc/group"))
		for _, l := range lines(group) {
			if f := strings.Split(l, ":"); len(f) >= 3 && f[0] == grp {
				gid, _ = strconv.Atoi(f[2])
			}
		}
		if gid < 0 {
			return 0, 0, fmt.Errorf("owner %q: no such group", trunc(grp, 40))
		}
	}
	return uid, gid, nil
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(b, '\n')
	}
	return b
}

// writeFileAtomic writes data to a temporary file beside path, fsyncs it,
// sets mode and owner (uid < 0: unchanged) and renames it over path. A
// symlink at path is replaced, never followed.
func writeFileAtomic(path string, data []byte, mode os.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// sshKeygenCheck asks ssh-keygen, which parses keys as sshd does, whether
// line is one public key (authorized_keys options allowed).
func sshKeygenCheck(line string) error {
	f, err := os.CreateTemp("", "key-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	f.WriteString(line + "\n")
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/ssh-keygen", "-l", "-f", f.Name()).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		msg = strings.ReplaceAll(msg, f.Name(), "key")
		if msg == "" {
			msg = err.Error()
		}
		return errors.New("ssh-keygen: " + trunc(msg, 200))
	}
	return nil
}

// runCommand runs a runcmd entry as root with a plain environment.
func runCommand(ctx context.Context, c Command) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	argv := c.Argv
	if c.Shell != "" {
		argv = []string{"/bin/sh", "-c", c.Shell}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/usr/sbin", "HOME=/root", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		return -1, string(out) + err.Error()
	}
	return 0, string(out)
}
