package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

// TestImageBuildTrust: keel image build trusts --trust, keel.yaml's
// trusted_keys or the key directory, refuses anything else in one line, and
// --allow-unsigned composes an unsigned repository, saying so in the manifest.
func TestImageBuildTrust(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	key, err := pgp.Generate("Keel CLI test", "cli@keel.invalid", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "trusted.asc")
	os.WriteFile(keyFile, key.PublicArmored(), 0o644)
	rpm, err := resolvetest.WriteRPM(t.TempDir(), resolvetest.Spec{Name: "hello", Files: map[string]string{"/etc/hello": "hi\n"}})
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed")
	if _, err := repo.Publish(context.Background(), repo.Options{Dir: signed, Packages: []string{rpm}, Key: key, SourceDateEpoch: 1700000000}); err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "unsigned")
	if err := resolvetest.WriteRepo(unsigned, []resolvetest.Spec{{Name: "hello", Files: map[string]string{"/etc/hello": "hi\n"}}}); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "hello.yaml")
	os.WriteFile(def, []byte("name: hello\nkind: container\npackages: [hello]\nrpmdb: false\noutputs: [{format: rootfs-tar}]\n"), 0o644)
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(tree, 0o755)
	os.WriteFile(filepath.Join(tree, "keel.yaml"), []byte("name: t\nversion: '1'\narch: x86_64\ndist_tag: .t1\ntrusted_keys: [../trusted.asc]\n"), 0o644)
	emptyKeys := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		want     string
		manifest string // a substring of manifest.json
	}{
		{"no trusted key", []string{"image", "build", def, "--repo", signed, "--keys", emptyKeys}, 1, "no trusted key", ""},
		{"a missing --trust file", []string{"image", "build", def, "--repo", signed, "--keys", emptyKeys, "--trust", filepath.Join(emptyKeys, "none.asc")}, 1, "trusted key " + filepath.Join(emptyKeys, "none.asc") + ": no such file", ""},
		{"--trust", []string{"image", "build", def, "--repo", signed, "--keys", emptyKeys, "--trust", keyFile}, 0, "", `"trusted_keys": [` + "\n    \"" + key.Fingerprint()},
		{"keel.yaml trusted_keys", []string{"-C", tree, "image", "build", def, "--repo", signed, "--keys", emptyKeys}, 0, "", key.Fingerprint()},
		{"unsigned refused", []string{"image", "build", def, "--repo", unsigned, "--trust", keyFile}, 1, "repomd.xml is not signed", ""},
		{"--allow-unsigned", []string{"image", "build", def, "--repo", unsigned, "--allow-unsigned"}, 0, "NOT checked", `"allow_unsigned": true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--cache", filepath.Join(dir, "cache"), "--out", out}, tc.args...)
			stdout, stderr, code := keel(t, context.Background(), args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d (want %d), want %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if tc.code != 0 {
				// The error itself is one line (the progress view shows the step too).
				for _, l := range strings.Split(stderr, "\n") {
					if strings.HasPrefix(l, "keel: ") && !strings.Contains(l, tc.want) {
						t.Errorf("error line %q lacks %q", l, tc.want)
					}
				}
				return
			}
			m, err := os.ReadFile(filepath.Join(out, "images", "hello", "manifest.json"))
			if err != nil || !strings.Contains(string(m), tc.manifest) {
				t.Errorf("manifest.json lacks %q: %v\n%s", tc.manifest, err, m)
			}
			var man map[string]any
			if json.Unmarshal(m, &man) != nil {
				t.Error("manifest.json is not JSON")
			}
		})
	}
}
