package baseline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	root := t.TempDir()
	w := func(p, c string, mode os.FileMode) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(c), mode)
		os.Chmod(full, mode)
	}
	w("usr/lib/sysctl.d/50-keel.conf", "# defaults\nkernel.kptr_restrict = 1\nfs/protected_symlinks=1\n", 0o644)
	w("etc/sysctl.d/50-keel.conf", "kernel.kptr_restrict = 2\n; masks the /usr/lib file of the same name\n", 0o644)
	w("etc/sysctl.d/60-net.conf", "-net.ipv4.tcp_syncookies = 1\n", 0o644)
	w("usr/bin/su", "x", 0o755|os.ModeSetuid)
	w("usr/bin/evil", "x", 0o755|os.ModeSetuid)
	w("var/spool/drop", "x", 0o666)
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
	os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
	os.MkdirAll(filepath.Join(root, "srv/open"), 0o755)
	os.Chmod(filepath.Join(root, "srv/open"), 0o777)

	p := Policy{Sysctl: map[string]string{"kernel.kptr_restrict": "2", "fs.protected_symlinks": "1", "net.ipv4.tcp_syncookies": "1", "vm.mmap_min_addr": "65536"},
		SetuidAllowed: []string{"/usr/bin/su"}}
	rep, err := Check(root, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Check+" "+f.Path)
	}
	// fs/protected_symlinks is only in the /usr/lib file that /etc masks.
	want := []string{"sysctl fs.protected_symlinks", "sysctl vm.mmap_min_addr", "world-writable /srv/open", "setuid /usr/bin/evil", "world-writable /var/spool/drop"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("findings %v\nwant     %v", got, want)
	}
	if len(rep.Setuid) != 2 {
		t.Errorf("setuid inventory %v", rep.Setuid)
	}
}

func TestSysctlSyntaxError(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/sysctl.d/1.conf"), []byte("ok = 1\nbroken line\n"), 0o644)
	if _, err := Check(root, DefaultPolicy()); err == nil || !strings.Contains(err.Error(), "/etc/sysctl.d/1.conf:2") {
		t.Errorf("err = %v", err)
	}
}

func FuzzSysctl(f *testing.F) {
	f.Add([]byte("a.b = 1\n-c/d=2\n# x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755)
		os.WriteFile(filepath.Join(root, "etc/sysctl.d/1.conf"), data, 0o644)
		_, _ = Check(root, DefaultPolicy())
	})
}

// TestHostileLinks: a sysctl.d file linked to a host file (here, a fake
// shadow) is read in the image, never on the host, and its content does
// not reach an error message; a link to /dev/null masks the name.
func TestHostileLinks(t *testing.T) {
	host := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(host, []byte("root:$6$hostsecret:19000::::::\n"), 0o644)
	for _, tc := range []struct {
		name, target, want string
	}{
		{"absolute", host, ""},
		{"escaping", "../../../../../../../../../../" + host, "resolves outside the root"},
		{"dev null", "/dev/null", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755)
			os.Symlink(tc.target, filepath.Join(root, "etc/sysctl.d/99-evil.conf"))
			_, err := Check(root, Policy{})
			if err != nil && strings.Contains(err.Error(), "hostsecret") {
				t.Fatalf("host file read: %v", err)
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
