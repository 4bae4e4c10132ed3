package distro

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestContextConventions(t *testing.T) {
	d, err := Load(filepath.Join(testenv.RepoRoot(), "distro"))
	if err != nil {
		t.Fatal(err)
	}
	// One spec-reader configuration: the tree's macros file, its dist tag
	// and identity macros, its arch.
	o := d.SpecOptions()
	if o.Arch != "x86_64" || !slices.Contains(o.Defines, "dist .kl1") || !slices.Equal(o.Load, []string{d.MacroFile()}) {
		t.Errorf("SpecOptions = %+v", o)
	}
	if _, err := os.Stat(d.MacroFile()); err != nil {
		t.Errorf("macros file: %v", err)
	}
	// Publisher names from keel.yaml.
	want := Publisher{Name: "Keel Linux", Vendor: "Keel Linux Project", Namespace: "https://keel-linux.invalid",
		OVALNamespace: "invalid.keel-linux", Platform: "Keel Linux 1.0", PurlNamespace: "keel", PurlDistro: "keel-1.0", Ecosystem: "Keel Linux:1.0",
		Email: "security@keel-linux.invalid"}
	if got := d.Publisher(); got != want {
		t.Errorf("Publisher = %+v\nwant        %+v", got, want)
	}
}

func TestKeys(t *testing.T) {
	t.Setenv("KEEL_KEYS", "/env/keys")
	if k := KeysAt(""); k.Dir != "/env/keys" || k.PublicKey() != "/env/keys/RPM-GPG-KEY-keel" {
		t.Errorf("KeysAt(\"\") = %+v", k)
	}
	dir := t.TempDir()
	if key, cert := KeysAt(dir).SecureBoot(); key != "" || cert != "" {
		t.Errorf("SecureBoot in an empty dir = %q %q", key, cert)
	}
	if err := os.WriteFile(filepath.Join(dir, "secureboot.key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if key, cert := KeysAt(dir).SecureBoot(); key != filepath.Join(dir, "secureboot.key") || cert != filepath.Join(dir, "secureboot.crt") {
		t.Errorf("SecureBoot = %q %q", key, cert)
	}
	if _, err := KeysAt(dir).Signing(); err == nil {
		t.Error("Signing in a dir without a key succeeded")
	}
}

func TestEpoch(t *testing.T) {
	fixed := &Distro{Config: Config{SDE: SourceDateEpoch{Fixed: 1700000000}}}
	changelog := &Distro{Config: Config{SDE: SourceDateEpoch{FromChangelog: true}}}
	for _, tc := range []struct {
		env     string
		d       *Distro
		want    int64 // 0: about now
		wantErr bool
	}{
		{"", fixed, 1700000000, false},
		{"", changelog, 0, false},
		{"1600000000", fixed, 1600000000, false},
		{"1600000000", changelog, 1600000000, false},
		{"yesterday", changelog, 0, true},
		{"-5", fixed, 0, true},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		before := time.Now()
		got, err := tc.d.Now()
		if (err != nil) != tc.wantErr {
			t.Errorf("SOURCE_DATE_EPOCH=%q: err %v", tc.env, err)
			continue
		}
		if tc.want != 0 && got.Unix() != tc.want {
			t.Errorf("SOURCE_DATE_EPOCH=%q: Now = %v, want %d", tc.env, got, tc.want)
		}
		if tc.want == 0 && !tc.wantErr && got.Before(before) {
			t.Errorf("SOURCE_DATE_EPOCH=%q: Now = %v, want the current time", tc.env, got)
		}
	}
}
