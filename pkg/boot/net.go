package boot

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Network is the guest's one NIC (virtio-net) on QEMU's user-mode network,
// with restrict=on: the guest reaches nothing but the guest forwards, and
// the host reaches the guest only through the forwards, on 127.0.0.1.
type Network struct {
	// Subnet is the user network's IPv4 prefix (QEMU's net=); "" is
	// QEMU's 10.0.2.0/24. Its .2 is the host, .3 the DNS server and
	// DHCP hands out from .15.
	Subnet string
	// Forwards are host 127.0.0.1:Host -> guest :Guest TCP forwards.
	Forwards []Forward
	// GuestForwards connect a guest TCP address (inside Subnet) to a
	// host 127.0.0.1 port: a fake cloud endpoint the test serves.
	GuestForwards []GuestForward
}

// Forward is a host-to-guest TCP port forward.
type Forward struct{ Host, Guest int }

// GuestForward makes Addr:Port in the guest's network a connection to
// 127.0.0.1:HostPort.
type GuestForward struct {
	Addr     string
	Port     int
	HostPort int
}

// ParseForward reads "HOST:GUEST" (TCP ports; HOST on 127.0.0.1).
func ParseForward(s string) (Forward, error) {
	h, g, ok := strings.Cut(s, ":")
	hp, err1 := strconv.Atoi(h)
	gp, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || hp < 1 || hp > 65535 || gp < 1 || gp > 65535 {
		return Forward{}, fmt.Errorf("forward %q: want HOSTPORT:GUESTPORT (TCP, 1-65535; the host side listens on 127.0.0.1 only)", s)
	}
	return Forward{hp, gp}, nil
}

// netArgs is the -netdev/-device pair for n.
func (n *Network) netArgs() ([]string, error) {
	opts := []string{"user", "id=net0", "restrict=on"}
	if n.Subnet != "" {
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
			return nil, fmt.Errorf("boot: network subnet %q: want an IPv4 prefix such as 10.0.2.0/24 (at most /29)", n.Subnet)
		}
		opts = append(opts, "net="+p.Masked().String())
	}
	for _, f := range n.Forwards {
		if f.Host < 1 || f.Host > 65535 || f.Guest < 1 || f.Guest > 65535 {
			return nil, fmt.Errorf("boot: forward %d:%d: ports must be 1-65535", f.Host, f.Guest)
		}
		opts = append(opts, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest))
	}
	for _, g := range n.GuestForwards {
		a, err := netip.ParseAddr(g.Addr)
		if err != nil || !a.Is4() || g.Port < 1 || g.Port > 65535 || g.HostPort < 1 || g.HostPort > 65535 {
			return nil, fmt.Errorf("boot: guest forward %s:%d -> %d: want an IPv4 guest address and ports 1-65535", g.Addr, g.Port, g.HostPort)
		}
		opts = append(opts, fmt.Sprintf("guestfwd=tcp:%s:%d-tcp:127.0.0.1:%d", a, g.Port, g.HostPort))
	}
	return []string{"-netdev", strings.Join(opts, ","), "-device", "virtio-net-pci,netdev=net0"}, nil
}

// FreePort is a TCP port on 127.0.0.1 free at the time of the call, for a
// forward QEMU listens on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
