package main

// Networking on the real root: loopback, then DHCP on the first NIC
// (dhcp.go), addresses and routes through rtnetlink.

import (
	"github.com/vishvananda/netlink"
)

// setupNetwork brings the network up and reports what it got as net.* facts.
func setupNetwork() {
	if err := loopbackUp(); err != nil {
		fact("net.lo", "error: "+errText(err))
	} else {
		fact("net.lo", "up")
	}
}

// loopbackUp brings lo up (the kernel gives it 127.0.0.1 and ::1).
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}
