package main

// A DHCPv4 lease through insomniacslk/dhcp's nclient4: raw packet sockets,
// so it works before the interface has an address and sees replies a
// server unicasts to the offered address.

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

type lease struct {
	addr     *net.IPNet
	router   net.IP
	server   net.IP
	dns      []net.IP
	hostname string
	duration time.Duration
}

// dhcpLease runs DISCOVER/OFFER/REQUEST/ACK: three tries of two seconds.
func dhcpLease(ifname string) (*lease, error) {
	c, err := nclient4.New(ifname, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	l, err := c.Request(ctx, dhcpv4.WithRequestedOptions(dhcpv4.OptionHostName, dhcpv4.OptionDomainNameServer, dhcpv4.OptionRouter, dhcpv4.OptionSubnetMask))
	if err != nil {
		return nil, err
	}
	ack := l.ACK
	if ack.YourIPAddr == nil || ack.YourIPAddr.IsUnspecified() {
		return nil, errors.New("the ACK offers no address")
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	out := &lease{addr: &net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask}, server: ack.ServerIdentifier(),
		dns: ack.DNS(), hostname: ack.HostName(), duration: ack.IPAddressLeaseTime(time.Hour)}
	if r := ack.Router(); len(r) > 0 {
		out.router = r[0]
	}
	return out, nil
}

// writeFileAtomic writes through a temporary file and a rename.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".keel-init")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readLinkBase is the last element of a symlink's target ("" if none).
func readLinkBase(p string) string {
	t, err := os.Readlink(p)
	if err != nil {
		return "none"
	}
	return filepath.Base(t)
}
