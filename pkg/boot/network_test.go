package boot

import (
	"context"
	"strings"
	"testing"
)

func TestNetworkExpect(t *testing.T) {
	ex, err := (&Network{Subnet: "10.9.0.0/24"}).Expect()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range ex {
		s = append(s, e.String())
	}
	got := strings.Join(s, " ")
	for _, want := range []string{"net.ipv4.address=10.9.0.15/24", "net.ipv4.dhcp_server=10.9.0.2", "net.ipv4.router=none", "net.dhcp=bound"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s: want %s", got, want)
		}
	}
	if _, err := (&Network{Subnet: "bogus"}).Expect(); err == nil {
		t.Error("bad subnet accepted")
	}
	ex, _ = (&Network{}).Expect()
	if ex[2].String() != "net.ipv4.address=10.0.2.15/24" {
		t.Errorf("default network: %v", ex)
	}
}

func TestLiveWait(t *testing.T) {
	l := &Live{facts: map[string]string{}, changed: make(chan struct{})}
	done := make(chan string)
	go func() {
		v, err := l.Wait(context.Background(), "firewall.input.dropped", func(v string) bool { return v != "0" })
		if err != nil {
			v = err.Error()
		}
		done <- v
	}()
	l.set(Fact{"firewall.input.dropped", "0"})
	l.set(Fact{"other", "x"})
	l.set(Fact{"firewall.input.dropped", "3"})
	if v := <-done; v != "3" {
		t.Fatalf("Wait = %q", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx, "never", func(string) bool { return true }); err == nil {
		t.Fatal("Wait on a cancelled context returned no error")
	}
}
