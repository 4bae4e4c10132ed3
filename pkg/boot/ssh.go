package boot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"
)

// WaitSSH waits until addr (host:port, a forward to the guest's sshd)
// answers with an SSH protocol banner, and returns the banner. Through
// QEMU's forward a connection is accepted before sshd listens; the banner
// is the proof.
func WaitSSH(ctx context.Context, addr string) (string, error) {
	var last error
	for {
		banner, err := sshBanner(ctx, addr)
		if err == nil {
			return banner, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no SSH banner from %s: %v", addr, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func sshBanner(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, "SSH-2.0-") {
		return "", fmt.Errorf("not an SSH banner: %q", l)
	}
	return strings.TrimSpace(l), nil
}

// ProvisionedUsers are the users keel-provision created, from the boot's
// provision.user.NAME facts, sorted.
func ProvisionedUsers(facts map[string]string) []string {
	var out []string
	for k, v := range facts {
		name, ok := strings.CutPrefix(k, "provision.user.")
		if ok && !strings.Contains(name, ".") && strings.HasPrefix(v, "uid=") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// SSHSession is an OnReady for `keel boot --ssh`: it waits for the guest's
// sshd behind the forwarded port, prints how to log in, and keeps the
// guest running until ctx ends (Ctrl-C).
func SSHSession(w io.Writer, port int) func(ctx context.Context, facts map[string]string) error {
	return func(ctx context.Context, facts map[string]string) error {
		wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
		defer cancel()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		banner, err := WaitSSH(wctx, addr)
		if err != nil {
			return err
		}
		user := "USER"
		if u := ProvisionedUsers(facts); len(u) > 0 {
			user = u[0]
		}
		fmt.Fprintf(w, "sshd is up (%s); host keys: ed25519 %s, ecdsa %s\n", banner,
			orUnknown(facts["provision.hostkey.ed25519"]), orUnknown(facts["provision.hostkey.ecdsa"]))
		fmt.Fprintf(w, "log in with:\n  ssh -p %d -o HostKeyAlias=keel-vm-%d %s@127.0.0.1\n", port, port, user)
		fmt.Fprintln(w, "the guest runs until interrupted (Ctrl-C)")
		<-ctx.Done()
		return nil
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(not reported)"
	}
	return s
}
