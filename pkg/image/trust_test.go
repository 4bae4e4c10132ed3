package image

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/logctx"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

// swapUnsigned replaces the package named name in dir with an unsigned
// build of spec (a different file, a later mtime) and returns its path.
func swapUnsigned(t *testing.T, dir, name string, spec resolvetest.Spec) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "Packages", name[:1], name+"-*.rpm"))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v", name, dir, m)
	}
	tmp := t.TempDir()
	p, err := resolvetest.WriteRPM(tmp, spec)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(m[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Unix(sde+3600, 0)
	os.Chtimes(m[0], later, later)
	return m[0]
}

func TestSignedInputsOnly(t *testing.T) {
	other, err := pgp.Generate("Someone else", "other@keel.invalid", time.Unix(sde, 0))
	if err != nil {
		t.Fatal(err)
	}
	evil := resolvetest.Spec{Name: "base", Files: map[string]string{"/etc/base.conf": "evil=1\n", "/usr/share/base/README": "base\n"},
		Links: map[string]string{"/usr/share/base/link": "README"}}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		opt   Options
		want  []string // substrings of the one-line error
	}{
		{"unsigned package, re-indexed without the key", func(t *testing.T, dir string) {
			swapUnsigned(t, dir, "base", evil)
			if _, err := repo.Index(context.Background(), repo.IndexOptions{Dir: dir, SourceDateEpoch: sde}); err != nil {
				t.Fatal(err)
			}
		}, Options{Trusted: testKeyring()}, []string{"repodata/repomd.xml"}},
		{"unsigned package, metadata re-signed", func(t *testing.T, dir string) {
			swapUnsigned(t, dir, "base", evil)
			if _, err := repo.Index(context.Background(), repo.IndexOptions{Dir: dir, Key: testKey(), SourceDateEpoch: sde}); err != nil {
				t.Fatal(err)
			}
		}, Options{Trusted: testKeyring()}, []string{"base-1.0-1.noarch (Packages/b/base-1.0-1.noarch.rpm): not signed"}},
		{"unsigned package, old metadata", func(t *testing.T, dir string) {
			swapUnsigned(t, dir, "base", evil)
		}, Options{Trusted: testKeyring()}, []string{"base-1.0-1.noarch", "not signed"}},
		{"signed by another key", func(t *testing.T, dir string) {
			rpms, _ := filepath.Glob(filepath.Join(dir, "Packages", "*", "*.rpm"))
			os.RemoveAll(filepath.Join(dir, "repodata"))
			os.RemoveAll(filepath.Join(dir, ".keel"))
			if _, err := repo.Publish(context.Background(), repo.Options{Dir: dir, Packages: rpms, Key: other, SourceDateEpoch: sde}); err != nil {
				t.Fatal(err)
			}
		}, Options{Trusted: testKeyring()}, []string{"repodata/repomd.xml: signed by key " + other.Fingerprint() + ", which is not trusted (trusted: " + testKey().Fingerprint() + " (Keel test <test@keel.invalid>))"}},
		{"the repository's own key is not trusted", nil, Options{Trusted: other.Keyring()},
			[]string{"signed by key " + testKey().Fingerprint(), "the repository ships that key (RPM-GPG-KEY-keel)", "pass --trust "}},
		{"no key at all", nil, Options{}, []string{"no trusted key", "--allow-unsigned"}},
		{"fingerprint not in the store", nil, Options{TrustedKeys: []string{other.Fingerprint()}, KeyStore: t.TempDir()}, []string{"trusted key " + other.Fingerprint() + ": not in the key store"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := genRepo(t, baseSpecs)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			out := t.TempDir()
			o := tc.opt
			o.Definition, o.Repos, o.Out, o.SourceDateEpoch = def(t, containerYAML), []string{dir}, out, sde
			_, err := Build(context.Background(), o)
			if err == nil {
				t.Fatal("built")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line:\n%v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant %q", err, w)
				}
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("a refused build left %v", ents)
			}
		})
	}
}

// TestTrustSources: a trusted key from the definition (a path next to it),
// from the key store by fingerprint, and the key store by default.
func TestTrustSources(t *testing.T) {
	dir := genRepo(t, baseSpecs)
	store := t.TempDir()
	os.MkdirAll(filepath.Join(store, pgp.TrustedDir), 0o755)
	os.WriteFile(filepath.Join(store, pgp.TrustedDir, "test.asc"), testKey().PublicArmored(), 0o644)
	defDir := t.TempDir()
	os.WriteFile(filepath.Join(defDir, "test.key"), testKey().PublicArmored(), 0o644)
	withPath, err := Parse(filepath.Join(defDir, "c.yaml"), []byte(containerYAML+"trusted_keys: [test.key]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"definition path", Options{Definition: withPath}},
		{"fingerprint in the store", Options{TrustedKeys: []string{testKey().Fingerprint()}, KeyStore: store}},
		{"long key ID in the store", Options{TrustedKeys: []string{"0x" + testKey().KeyID()}, KeyStore: store}},
		{"the store by default", Options{KeyStore: store}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opt
			if o.Definition == nil {
				o.Definition = def(t, containerYAML)
			}
			o.Repos, o.Out, o.SourceDateEpoch, o.RootOnly = []string{dir}, t.TempDir(), sde, true
			res, err := Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.Manifest.TrustedKeys, " "); got != testKey().Fingerprint() || res.Manifest.AllowUnsigned {
				t.Errorf("manifest trusted_keys %q allow_unsigned %v", got, res.Manifest.AllowUnsigned)
			}
		})
	}
}

// TestAllowUnsigned: an unsigned repository composes with the opt-out,
// which manifest.json records.
func TestAllowUnsigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if err := resolvetest.WriteRepo(dir, baseSpecs); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	ctx := logctx.WithLogger(context.Background(), slog.New(slog.NewTextHandler(&logged, nil)))
	res, err := Build(ctx, Options{Definition: def(t, containerYAML), Repos: []string{dir}, Out: t.TempDir(), SourceDateEpoch: sde,
		AllowUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	if m["allow_unsigned"] != true || m["trusted_keys"] != nil {
		t.Errorf("manifest: allow_unsigned %v trusted_keys %v", m["allow_unsigned"], m["trusted_keys"])
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "NOT checked (--allow-unsigned") {
		t.Errorf("no warning in %q", logged.String())
	}
	// Without the opt-out the same repository is refused.
	_, err = Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{dir}, Out: t.TempDir(), SourceDateEpoch: sde, Trusted: testKeyring()})
	if err == nil || !strings.Contains(err.Error(), "repomd.xml is not signed") {
		t.Errorf("unsigned repository: %v", err)
	}
}

// TestReproducibleByDefault: with no SOURCE_DATE_EPOCH the newest package
// build time stamps the image, so two builds give the same bytes.
func TestReproducibleByDefault(t *testing.T) {
	dir := genRepo(t, baseSpecs)
	var outs [2][]byte
	var stamp int64
	for i := range outs {
		res, err := Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{dir}, Out: t.TempDir(), Trusted: testKeyring()})
		if err != nil {
			t.Fatal(err)
		}
		stamp = res.Manifest.SourceDateEpoch
		for _, o := range res.Manifest.Outputs {
			if o.Format == "docker-archive" {
				outs[i], _ = os.ReadFile(filepath.Join(res.Dir, o.Path))
			}
		}
		if outs[i] == nil {
			t.Fatal("no docker-archive output")
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two builds without SOURCE_DATE_EPOCH differ")
	}
	if stamp != resolvetest.Epoch {
		t.Errorf("source_date_epoch %d, want the packages' build time %d", stamp, resolvetest.Epoch)
	}
}
