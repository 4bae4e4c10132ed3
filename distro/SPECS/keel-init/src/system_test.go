package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseSysctlLine(t *testing.T) {
	for _, tc := range []struct{ in, k, v string }{
		{"kernel.kptr_restrict = 2", "kernel.kptr_restrict", "2"},
		{"  fs/protected_symlinks=1 ", "fs.protected_symlinks", "1"},
		{"-net.ipv4.tcp_syncookies = 1", "-net.ipv4.tcp_syncookies", "1"},
		{"# comment", "", ""}, {"; comment", "", ""}, {"", "", ""}, {"novalue", "", ""}, {"a..b = 1", "", ""},
	} {
		k, v, ok := parseSysctlLine(tc.in)
		if k != tc.k || v != tc.v || ok != (tc.k != "") {
			t.Errorf("%q: %q %q %v", tc.in, k, v, ok)
		}
	}
}

func FuzzParseSysctlLine(f *testing.F) {
	for _, s := range []string{"kernel.kptr_restrict = 2", "-a/b=c", "#x", "=", "a..b=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		k, _, ok := parseSysctlLine(l)
		if ok && (k == "" || strings.Contains(k, "..") || strings.Contains(k, "/")) {
			t.Fatalf("%q: key %q would leave /proc/sys", l, k)
		}
	})
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{"kernel/net/netfilter/nf_tables.ko.xz": "nf_tables", "dm-verity": "dm_verity", "virtio_net.ko": "virtio_net"} {
		if got := modName(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

// A service's console output cannot forge a fact or status line.
func TestConsoleLogDefusesMarkers(t *testing.T) {
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	c := &consoleLog{prefix: "evil: "}
	c.Write([]byte("KEEL-FACT root.write=EROFS\nKEEL-STATUS ok fa"))
	c.Write([]byte("cts=1\npartial"))
	os.Stdout = old
	w.Close()
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	got := string(b[:n])
	if strings.Contains(got, "KEEL-") || got != "evil: KEEL_FACT root.write=EROFS\nevil: KEEL_STATUS ok facts=1\n" {
		t.Fatalf("console got %q", got)
	}
}
