package main

// Networking on the real root: loopback, then DHCPv4 on the first NIC
// (dhcp.go); addresses and routes through rtnetlink (vishvananda/netlink).
// IPv6 comes from the kernel's own SLAAC on the link once it is up.

import (
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// setupNetwork brings the network up and reports what it got as net.* facts.
func setupNetwork() {
	if err := loopbackUp(); err != nil {
		fact("net.lo", "error: "+errText(err))
	} else {
		fact("net.lo", "up")
	}
	link := firstNIC(2 * time.Second)
	if link == nil {
		fact("net.dhcp", "no-nic")
		return
	}
	name := link.Attrs().Name
	fact("net.if", name)
	fact("net.if.driver", readLinkBase("/sys/class/net/"+name+"/device/driver"))
	if err := netlink.LinkSetUp(link); err != nil {
		fact("net.dhcp", "error: link up: "+errText(err))
		return
	}
	lease, err := dhcpLease(name)
	if err != nil {
		fact("net.dhcp", "no-answer: "+err.Error())
		return
	}
	if err := applyLease(link, lease); err != nil {
		fact("net.dhcp", "error: "+err.Error())
		return
	}
	fact("net.dhcp", "bound")
	fact("net.ipv4.address", lease.addr.String())
	fact("net.ipv4.router", ipString(lease.router))
	fact("net.ipv4.dhcp_server", ipString(lease.server))
	fact("net.dns", joinIPs(lease.dns))
	fact("net.lease", lease.duration.String())
	if lease.hostname != "" {
		fact("net.dhcp.hostname", lease.hostname)
	}
	fact("net.resolv.conf", writeResolvConf(lease.dns))
	go renewLoop(link, name, lease)
}

// loopbackUp brings lo up (the kernel gives it 127.0.0.1 and ::1).
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// firstNIC is the Ethernet device with the lowest index, waiting up to
// wait for a driver still probing.
func firstNIC(wait time.Duration) netlink.Link {
	deadline := time.Now().Add(wait)
	for {
		links, _ := netlink.LinkList()
		var nics []netlink.Link
		for _, l := range links {
			a := l.Attrs()
			if l.Type() == "device" && a.Name != "lo" && len(a.HardwareAddr) == 6 {
				nics = append(nics, l)
			}
		}
		if len(nics) > 0 {
			sort.Slice(nics, func(i, j int) bool { return nics[i].Attrs().Index < nics[j].Attrs().Index })
			return nics[0]
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func applyLease(link netlink.Link, l *lease) error {
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: l.addr}); err != nil {
		return err
	}
	if l.router != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.router, Dst: nil}
		if err := netlink.RouteReplace(r); err != nil {
			return err
		}
	}
	return nil
}

// writeResolvConf points the resolver at the lease's servers: "ok" or why not
// (a read-only root keeps the image's own).
func writeResolvConf(dns []net.IP) string {
	if len(dns) == 0 {
		return "no servers offered"
	}
	var b strings.Builder
	b.WriteString("# written by keel-init from the DHCP lease\n")
	for _, ip := range dns {
		b.WriteString("nameserver " + ip.String() + "\n")
	}
	// The image links /etc/resolv.conf here (a read-only root has no other
	// place for it); an image without the link gets its /etc file rewritten.
	p := "/run/keel/resolv.conf"
	if t, _ := os.Readlink("/etc/resolv.conf"); t != "../run/keel/resolv.conf" && t != p {
		p = "/etc/resolv.conf"
	}
	os.MkdirAll("/run/keel", 0o755)
	if err := writeFileAtomic(p, []byte(b.String()), 0o644); err != nil {
		return "error: " + errText(err)
	}
	return "ok"
}

// renewLoop renews the lease at half its time; when renewal fails the
// address stays until the next try succeeds (a cloud's DHCP server is the
// VM's only address source, and dropping it would cut the session).
func renewLoop(link netlink.Link, name string, l *lease) {
	for {
		time.Sleep(max(l.duration/2, 30*time.Second))
		if nl, err := dhcpLease(name); err == nil {
			if applyLease(link, nl) == nil {
				l = nl
			}
		}
	}
}

func ipString(ip net.IP) string {
	if ip == nil {
		return "none"
	}
	return ip.String()
}

func joinIPs(ips []net.IP) string {
	if len(ips) == 0 {
		return "none"
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}
