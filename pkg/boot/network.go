package boot

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
)

// isolatedNIC is a NIC whose other end is nothing (a QEMU hub with one
// port): no DHCP answer, no traffic (Options.IsolatedNIC).
var isolatedNIC = []string{"-netdev", "hubport,id=net0,hubid=0", "-device", "virtio-net-pci,netdev=net0"}

func (n *Network) prefix() (netip.Prefix, error) {
	if n.Subnet == "" {
		return netip.MustParsePrefix("10.0.2.0/24"), nil
	}
	p, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
		return netip.Prefix{}, fmt.Errorf("boot: network subnet %q: want an IPv4 prefix such as 10.0.2.0/24 (at most /29)", n.Subnet)
	}
	return p.Masked(), nil
}

// host returns the address .i of the network.
func host(p netip.Prefix, i int) netip.Addr {
	b := p.Addr().As4()
	b[3] += byte(i)
	return netip.AddrFrom4(b)
}

// Expect is what keel-init must report on this network: slirp's DHCP
// lease (.15 of the subnet) from its server (.2). With restrict=on slirp
// offers no router and no DNS server (libslirp's bootp.c leaves options 3
// and 6 out for a restricted guest), so keel-init must report none and
// write no resolv.conf: an address it made up would show here.
func (n *Network) Expect() ([]Expectation, error) {
	p, err := n.prefix()
	if err != nil {
		return nil, err
	}
	return MustExpect("net.dhcp=bound", "net.if~=^eth",
		"net.ipv4.address="+host(p, 15).String()+"/"+strconv.Itoa(p.Bits()),
		"net.ipv4.dhcp_server="+host(p, 2).String(),
		"net.ipv4.router=none", "net.dns=none",
		"net.resolv.conf=no servers offered"), nil
}

// IsolatedExpect is what keel-init must report with IsolatedNIC: a NIC, no
// DHCP answer, and the boot goes on.
func IsolatedExpect() []Expectation {
	return MustExpect("net.dhcp~=^no-answer", "net.if~=^eth")
}

// Live is the facts of a running guest, updated as the console reports
// them, those after the status line included (Options.Hold).
type Live struct {
	mu      sync.Mutex
	facts   map[string]string
	changed chan struct{} // closed and replaced on every fact
}

func (l *Live) set(f Fact) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.facts[f.Key] = f.Value
	close(l.changed)
	l.changed = make(chan struct{})
}

// Fact is the latest value of key (false when none came).
func (l *Live) Fact(key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.facts[key]
	return v, ok
}

// Wait blocks until ok(value of key) holds, or ctx ends.
func (l *Live) Wait(ctx context.Context, key string, ok func(string) bool) (string, error) {
	for {
		l.mu.Lock()
		v, have := l.facts[key]
		ch := l.changed
		l.mu.Unlock()
		if have && ok(v) {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("waiting for fact %s (last %q): %w", key, v, ctx.Err())
		case <-ch:
		}
	}
}
