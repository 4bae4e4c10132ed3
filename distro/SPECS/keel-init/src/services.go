package main

// Service supervision: the image's services: (init.json) started in
// after: order once the firewall and network are up. A simple service is
// restarted when it exits (restart: always | on-failure | never) with a
// back-off from 1 s doubling to 30 s; a oneshot runs to completion before
// anything after it. Each runs as its user and group in its own session,
// in its SELinux domain when SELinux is on, with output captured to
// /var/log/NAME.log (or the console, with fact markers defused). Facts:
// service.NAME.state (running | done | failed | backoff | exited),
// .restarts, .health, .log; changes after the boot report are reported too.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type serviceConfig struct {
	Name    string   `json:"name"`
	Exec    []string `json:"exec"`
	User    string   `json:"user"`
	Group   string   `json:"group"`
	Type    string   `json:"type"`
	After   []string `json:"after"`
	Restart string   `json:"restart"`
	Health  *struct {
		TCP  int      `json:"tcp"`
		Exec []string `json:"exec"`
	} `json:"health"`
	Log           string   `json:"log"`
	Env           []string `json:"env"`
	SELinuxDomain string   `json:"selinux_domain"`
}

type service struct {
	cfg      serviceConfig
	state    string // starting | running | done | failed | backoff | exited
	restarts int
	health   string // ok | failing | none
	logTo    string
	settled  chan struct{} // closed once state is first worth reporting
	ready    chan struct{} // closed when services after it may start
	once     sync.Once
	readyOne sync.Once
}

type supervisor struct {
	mu    sync.Mutex
	svcs  []*service
	byKey map[string]*service
}

// managed are the children keel-init waits for itself (exec.Cmd.Wait);
// the orphan reaper leaves them alone. spawnMu covers start+register so
// the reaper never sees a managed child unregistered.
var (
	spawnMu sync.Mutex
	managed = map[int]bool{}
)

func startManaged(cmd *exec.Cmd) error {
	spawnMu.Lock()
	defer spawnMu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	managed[cmd.Process.Pid] = true
	return nil
}

func waitManaged(cmd *exec.Cmd) error {
	err := cmd.Wait()
	spawnMu.Lock()
	delete(managed, cmd.Process.Pid)
	spawnMu.Unlock()
	return err
}

// reapOrphans reaps exited children that no exec.Cmd waits for: it peeks
// (WNOWAIT) and stops at a managed one, which its own Wait collects.
func reapOrphans() {
	spawnMu.Lock()
	defer spawnMu.Unlock()
	for {
		var info [128]byte // siginfo_t
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, 0 /* P_ALL */, 0, uintptrOf(info[:]),
			syscall.WEXITED|syscall.WNOHANG|0x01000000 /* WNOWAIT */, 0, 0)
		pid := int(int32(uint32(info[16]) | uint32(info[17])<<8 | uint32(info[18])<<16 | uint32(info[19])<<24))
		if e != 0 || pid <= 0 || managed[pid] {
			return
		}
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

func startServices(cfgs []serviceConfig) *supervisor {
	sv := &supervisor{byKey: map[string]*service{}}
	for _, c := range cfgs {
		s := &service{cfg: c, state: "starting", health: "none", settled: make(chan struct{}), ready: make(chan struct{})}
		sv.svcs = append(sv.svcs, s)
		sv.byKey[c.Name] = s
	}
	for _, s := range sv.svcs {
		go sv.run(s)
	}
	return sv
}

func (sv *supervisor) set(s *service, state string) {
	sv.mu.Lock()
	s.state = state
	sv.mu.Unlock()
}

func (sv *supervisor) run(s *service) {
	for _, a := range s.cfg.After {
		if d := sv.byKey[a]; d != nil {
			<-d.ready
		}
	}
	backoff := time.Second
	for {
		started := time.Now()
		code, err := sv.runOnce(s)
		if s.cfg.Type == "oneshot" {
			if err == nil && code == 0 {
				sv.set(s, "done")
			} else {
				sv.set(s, "failed")
				logf("service %s: exit %d %v", s.cfg.Name, code, err)
			}
			s.markSettled()
			s.markReady()
			return
		}
		again := s.cfg.Restart == "" || s.cfg.Restart == "always" || (s.cfg.Restart == "on-failure" && (code != 0 || err != nil))
		if err != nil && code == -2 {
			again = false // could not even start: a restart would fail the same way
		}
		if !again {
			sv.set(s, map[bool]string{true: "exited", false: "failed"}[code == 0 && err == nil])
			s.markSettled()
			s.markReady()
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second // it ran a while: start the back-off over
		}
		sv.mu.Lock()
		s.state, s.restarts = "backoff", s.restarts+1
		sv.mu.Unlock()
		s.markSettled()
		time.Sleep(backoff)
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *service) markSettled() { s.once.Do(func() { close(s.settled) }) }
func (s *service) markReady()   { s.readyOne.Do(func() { close(s.ready) }) }

// runOnce starts the service, waits for health, and returns its exit code
// (-2 when it could not start).
func (sv *supervisor) runOnce(s *service) (int, error) {
	cmd := exec.Command(s.cfg.Exec[0], s.cfg.Exec[1:]...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin", "HOME=/"}, s.cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := credentials(cmd, s.cfg.User, s.cfg.Group); err != nil {
		return -2, err
	}
	out, where := serviceLog(s.cfg.Name, s.cfg.Log)
	sv.mu.Lock()
	s.logTo = where
	sv.mu.Unlock()
	if out != nil {
		defer out.Close()
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := startInDomain(cmd, s.cfg.SELinuxDomain); err != nil {
		logf("service %s: %v", s.cfg.Name, err)
		return -2, err
	}
	exited := make(chan struct{})
	if s.cfg.Type != "oneshot" {
		go sv.watchHealth(s, exited)
	}
	err := waitManaged(cmd)
	close(exited)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return -1, err
	}
	return 0, nil
}

// watchHealth marks the service running once healthy (at once without a
// check) and re-checks every 10 s while it runs.
func (sv *supervisor) watchHealth(s *service, exited chan struct{}) {
	if s.cfg.Health == nil {
		sv.set(s, "running")
		s.markSettled()
		s.markReady()
		return
	}
	first := true
	tick := 200 * time.Millisecond
	for tries := 0; ; tries++ {
		select {
		case <-exited:
			return
		case <-time.After(tick):
		}
		ok := healthy(s)
		sv.mu.Lock()
		switch {
		case ok:
			s.health, s.state = "ok", "running"
		case !first || tries >= 150: // 30 s to come up
			s.health = "failing"
		}
		settled := s.health != "none"
		sv.mu.Unlock()
		if settled {
			s.markSettled()
			s.markReady()
			if first {
				first, tick = false, 10*time.Second
			}
		}
	}
}

func healthy(s *service) bool {
	h := s.cfg.Health
	if h.TCP != 0 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.TCP)), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	cmd := exec.Command(h.Exec[0], h.Exec[1:]...)
	cmd.Env, cmd.Dir = []string{"PATH=/usr/sbin:/usr/bin"}, "/"
	credentials(cmd, s.cfg.User, s.cfg.Group)
	if startManaged(cmd) != nil {
		return false
	}
	return waitManaged(cmd) == nil
}

// credentials runs cmd as user (and group, default the user's primary one)
// with the user's supplementary groups.
func credentials(cmd *exec.Cmd, name, group string) error {
	if name == "" && group == "" {
		return nil
	}
	if name == "" {
		name = "root"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("group %s: %w", group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.Atoi(id); err == nil {
				groups = append(groups, uint32(n))
			}
		}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	return nil
}

// startInDomain starts cmd in SELinux domain (system_u:system_r:D:s0) when
// SELinux is enabled: the exec context is set on this thread, which forks.
func startInDomain(cmd *exec.Cmd, domain string) error {
	if _, err := os.Stat("/sys/fs/selinux/enforce"); domain == "" || err != nil {
		return startManaged(cmd)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr := "/proc/thread-self/attr/exec"
	if err := os.WriteFile(attr, []byte("system_u:system_r:"+domain+":s0"), 0); err != nil {
		return fmt.Errorf("SELinux domain %s: %w", domain, err)
	}
	defer os.WriteFile(attr, nil, 0)
	return startManaged(cmd)
}

// serviceLog opens where a service's output goes: /var/log/NAME.log
// (rotated once past 1 MiB) or the console; console when the file cannot
// be opened (a read-only /var).
func serviceLog(name, mode string) (io.WriteCloser, string) {
	if mode != "console" {
		p := "/var/log/" + name + ".log"
		if st, err := os.Stat(p); err == nil && st.Size() > 1<<20 {
			os.Rename(p, p+".1")
		}
		os.MkdirAll("/var/log", 0o755)
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err == nil {
			return f, p
		}
	}
	return &consoleLog{prefix: name + ": "}, "console"
}

// consoleLog writes a service's lines to the console; "KEEL-" becomes
// "KEEL_" so no service can forge a fact or a status line.
type consoleLog struct {
	prefix string
	buf    []byte
}

func (c *consoleLog) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		i := strings.IndexByte(string(c.buf), '\n')
		if i < 0 {
			break
		}
		line := strings.ReplaceAll(string(c.buf[:i]), "KEEL-", "KEEL_")
		c.buf = c.buf[i+1:]
		factMu.Lock()
		os.Stdout.Write([]byte(c.prefix + line + "\n"))
		factMu.Unlock()
	}
	return len(p), nil
}

func (c *consoleLog) Close() error { return nil }

// report waits (at most 30 s) for every service to settle and reports
// their states; afterwards watch reports changes.
func (sv *supervisor) report() {
	deadline := time.After(30 * time.Second)
	for _, s := range sv.svcs {
		select {
		case <-s.settled:
		case <-deadline:
		}
	}
	for _, f := range sv.snapshot() {
		fact(f[0], f[1])
	}
}

func (sv *supervisor) snapshot() [][2]string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var out [][2]string
	for _, s := range sv.svcs {
		p := "service." + s.cfg.Name + "."
		out = append(out, [2]string{p + "state", s.state}, [2]string{p + "restarts", strconv.Itoa(s.restarts)},
			[2]string{p + "health", s.health}, [2]string{p + "log", s.logTo})
	}
	return out
}

// watch reports, after the boot report, every service fact that changed.
func (sv *supervisor) watch() {
	last := map[string]string{}
	for _, f := range sv.snapshot() {
		last[f[0]] = f[1]
	}
	for {
		time.Sleep(time.Second)
		for _, f := range sv.snapshot() {
			if last[f[0]] != f[1] {
				last[f[0]] = f[1]
				fact(f[0], f[1])
			}
		}
	}
}
