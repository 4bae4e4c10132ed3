package host

import (
	"strings"
	"testing"
)

func TestInstallCommand(t *testing.T) {
	missing := []Tool{{Name: "rpmbuild", Package: "rpm"}, {Name: "rpmspec", Package: "rpm"}, {Name: "bwrap", Package: "bubblewrap"},
		{Name: "virt-fw-vars", Package: "python3-virt-firmware", Backports: true}}
	for _, c := range []struct{ pm, want string }{
		{"apt-get", "apt-get install -y --no-install-recommends rpm bubblewrap && scripts/setup (bookworm-backports: python3-virt-firmware)"},
		{"", "apt-get install -y --no-install-recommends rpm bubblewrap && scripts/setup (bookworm-backports: python3-virt-firmware)"},
		{"dnf", "dnf install rpm bubblewrap (Debian's package names; dnf's may differ) && scripts/setup (bookworm-backports: python3-virt-firmware)"},
	} {
		if got := installCommand(missing, c.pm); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.pm, got, c.want)
		}
	}
}

func TestGroups(t *testing.T) {
	req := map[string]bool{}
	for _, t := range Tools {
		req[t.Name] = !t.TestOnly
	}
	for _, n := range []string{"rpmbuild", "bwrap", "qemu-system-x86_64", "mkfs.erofs", "sbsign"} {
		if !req[n] {
			t.Errorf("%s: a distribution build needs it, but it is test-only", n)
		}
	}
	for _, n := range []string{"createrepo_c", "dnf", "chromium", "oscap"} {
		if req[n] {
			t.Errorf("%s: only tests run it, but it is required", n)
		}
	}
}

func TestChecks(t *testing.T) {
	dir := t.TempDir()
	if c := DiskSpace("cache", dir+"/not/yet", 0); !c.OK || !strings.Contains(c.Detail, "free in") {
		t.Errorf("no space wanted: %+v", c)
	}
	if c := DiskSpace("cache", dir, 1<<62); c.OK || c.Fix == "" {
		t.Errorf("4 EiB wanted: %+v", c)
	}
	for _, c := range Keys(dir) {
		if c.OK || c.Fix != "keel keys init" || c.Required {
			t.Errorf("empty key directory: %+v", c)
		}
	}
	if c := UserNamespaces(); c.Detail == "" || !c.Required {
		t.Errorf("user namespaces: %+v", c)
	}
}
