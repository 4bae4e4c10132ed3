package image

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/boot"
)

// vmTestServices are what the vm boot test adds to the vm definition: a
// oneshot first-boot task, a web server on 8080 after it (healthy when
// 8080 accepts on loopback) and a service that always crashes (restarted
// with back-off). The firewall allows 22 only, so 8080 is unreachable
// from outside although it listens.
var vmTestServices = []Service{
	{Name: "firstboot", Type: "oneshot", Exec: []string{"/usr/bin/busybox", "touch", "/run/firstboot-done"}},
	{Name: "web", Exec: []string{"/usr/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/usr/share"}, After: []string{"firstboot"},
		Health: &ServiceHealth{TCP: 8080}},
	{Name: "crashy", Exec: []string{"/usr/bin/busybox", "false"}, Log: "console"},
}

// vmBootOptions gives the vm boot a non-default user network (so a
// hard-coded 10.0.2.15 cannot pass), 8080 forwarded from a free host port,
// and a check after the boot report: a connection through the forward gets
// no byte from the web server, and the firewall's drop counter rises.
func vmBootOptions(t *testing.T, ex []boot.Expectation) ([]boot.Expectation, *boot.Network, func(context.Context, *boot.Live) error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &boot.Network{Subnet: "10.9.0.0/24", Forwards: []boot.Forward{{Host: port, Guest: 8080}}}
	nex, err := n.Expect()
	if err != nil {
		t.Fatal(err)
	}
	var out []boot.Expectation
	for _, e := range ex {
		if e.Key != "service.crashy.state" { // it never runs: it must be backing off
			out = append(out, e)
		}
	}
	out = append(append(out, nex...), boot.MustExpect(
		"service.crashy.state=backoff", "service.crashy.restarts!=0",
		"service.web.health=ok", "service.web.log=/var/log/web.log", "service.firstboot.state=done",
		"net.ipv4.address!=10.0.2.15/24")...)
	hold := func(ctx context.Context, live *boot.Live) error {
		before, _ := live.Fact("firewall.input.dropped")
		b0, _ := strconv.ParseUint(before, 10, 64)
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil { // slirp accepts on the host side, then tries the guest
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(c)
			c.Close()
			if len(got) > 0 {
				return fmt.Errorf("port 8080 answered through the firewall: %q", got)
			}
		}
		_, err = live.Wait(ctx, "firewall.input.dropped", func(v string) bool {
			n, err := strconv.ParseUint(v, 10, 64)
			return err == nil && n > b0
		})
		return err
	}
	return out, n, hold
}
