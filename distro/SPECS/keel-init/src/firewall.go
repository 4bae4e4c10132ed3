package main

// The firewall: one inet table (IPv4 and IPv6) with an input chain,
// loaded through netlink (google/nftables) before the network and any
// service come up. Established/related, loopback and ICMPv6 (neighbour
// discovery, which IPv6 needs) pass, then the allowed ports; with input:
// drop a last "counter drop" rule refuses and counts the rest. The ruleset
// fact is rendered from the rules read back from the kernel, not from the
// configuration, so it shows what is really loaded.

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

type firewallConfig struct {
	Input string `json:"input"` // drop | accept
	Allow []struct {
		TCP int `json:"tcp"`
		UDP int `json:"udp"`
	} `json:"allow"`
}

const fwTable, fwChain = "keel", "input"

// setupFirewall loads the ruleset; false when the image has one and it
// could not be loaded (then no service starts: nothing may listen unguarded).
func setupFirewall(c *firewallConfig) bool {
	if c == nil {
		fact("firewall.input", "none")
		return true
	}
	err := loadFirewall(c)
	if err != nil {
		fact("firewall.error", err.Error())
	} else {
		fact("firewall.error", "none")
	}
	fact("firewall.input", c.Input)
	text, dropped, rerr := readFirewall()
	if rerr != nil {
		fact("firewall.ruleset", "unreadable: "+rerr.Error())
		return false
	}
	fact("firewall.ruleset", text)
	fact("firewall.input.dropped", strconv.FormatUint(dropped, 10))
	return err == nil
}

func loadFirewall(c *firewallConfig) error {
	cc, err := nftables.New()
	if err != nil {
		return err
	}
	t := cc.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: fwTable})
	policy := nftables.ChainPolicyAccept
	if c.Input != "accept" {
		policy = nftables.ChainPolicyDrop // anything but an explicit accept is a drop
	}
	ch := cc.AddChain(&nftables.Chain{Name: fwChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	rules := [][]expr.Any{
		{&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: le32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: le32(0)}, accept},
		{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")}, accept},
		{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}}, accept},
	}
	for _, a := range c.Allow {
		proto, port := byte(unix.IPPROTO_TCP), a.TCP
		if a.UDP != 0 {
			proto, port = unix.IPPROTO_UDP, a.UDP
		}
		rules = append(rules, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, uint16(port))}, accept})
	}
	if policy == nftables.ChainPolicyDrop {
		rules = append(rules, []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}})
	}
	for _, r := range rules {
		cc.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	return cc.Flush() // one batch: all of it or nothing
}

// readFirewall renders table inet keel as read back from the kernel and
// returns the packets the final counter dropped.
func readFirewall() (string, uint64, error) {
	cc, err := nftables.New()
	if err != nil {
		return "", 0, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: fwTable}
	ch, err := cc.ListChain(t, fwChain)
	if err != nil {
		return "", 0, err
	}
	rules, err := cc.GetRules(t, ch)
	if err != nil {
		return "", 0, err
	}
	policy := "accept"
	if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
		policy = "drop"
	}
	out := []string{"table inet " + fwTable, "chain " + fwChain + " { type filter hook input priority filter; policy " + policy}
	var dropped uint64
	for _, r := range rules {
		var parts []string
		var proto string
		for i := 0; i < len(r.Exprs); i++ {
			switch e := r.Exprs[i].(type) {
			case *expr.Ct:
				if e.Key == expr.CtKeySTATE {
					parts = append(parts, "ct state established,related")
					i += 2 // the bitwise and cmp that test it
				}
			case *expr.Meta:
				if i+1 < len(r.Exprs) {
					if c, ok := r.Exprs[i+1].(*expr.Cmp); ok {
						switch e.Key {
						case expr.MetaKeyIIFNAME:
							parts = append(parts, strconv.Quote(strings.TrimRight(string(c.Data), "\x00")))
							parts[len(parts)-1] = "iifname " + parts[len(parts)-1]
						case expr.MetaKeyL4PROTO:
							proto = map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMPV6: "ipv6-icmp"}[c.Data[0]]
							if proto == "ipv6-icmp" {
								parts = append(parts, "meta l4proto ipv6-icmp")
							}
						}
						i++
					}
				}
			case *expr.Payload:
				if i+1 < len(r.Exprs) {
					if c, ok := r.Exprs[i+1].(*expr.Cmp); ok && e.Offset == 2 && len(c.Data) == 2 {
						parts = append(parts, fmt.Sprintf("%s dport %d", proto, binary.BigEndian.Uint16(c.Data)))
						i++
					}
				}
			case *expr.Counter:
				parts = append(parts, "counter")
				dropped = e.Packets
			case *expr.Verdict:
				parts = append(parts, map[expr.VerdictKind]string{expr.VerdictAccept: "accept", expr.VerdictDrop: "drop"}[e.Kind])
			default:
				parts = append(parts, fmt.Sprintf("%T", e))
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	return strings.Join(out, "; ") + " }", dropped, nil
}

// watchFirewall reports the drop counter whenever it changes after the
// boot report, so a test can see a refused connection counted.
func watchFirewall() {
	var last uint64
	for {
		time.Sleep(time.Second)
		_, n, err := readFirewall()
		if err == nil && n != last {
			last = n
			fact("firewall.input.dropped", strconv.FormatUint(n, 10))
		}
	}
}

func le32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// ifname is an interface name as the kernel compares it: NUL-padded to IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
