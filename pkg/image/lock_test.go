package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/repo/remote"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
)

// TestLocked: a build writes the lock; the repository then gains newer
// packages, and two builds from the lock give the first build's bytes; a
// lock the repositories can no longer satisfy fails in one line.
func TestLocked(t *testing.T) {
	dir := genRepo(t, baseSpecs)
	url := serveKeel(t, dir)
	cache := &remote.Cache{Dir: t.TempDir()}
	lockPath := filepath.Join(t.TempDir(), "test-image.lock")
	build := func(repos []string, yaml string, lock *Lock, out string) (*Result, error) {
		return Build(context.Background(), Options{Definition: def(t, yaml), Repos: repos, Out: out,
			Trusted: testKeyring(), Cache: cache, LockFile: map[bool]string{true: lockPath}[lock == nil], Locked: lock})
	}
	first, err := build([]string{url}, containerYAML, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := ReadLock(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lock.Marshal(), written) {
		t.Error("lock does not round-trip to the same bytes")
	}
	validateLock(t, written)
	if len(lock.Packages) != 3 || lock.Packages[0].Name != "app" || lock.Packages[0].Repository != url || lock.Repositories[0] != url {
		t.Errorf("lock: %s", written)
	}

	// The repository gains newer app and base.
	var newer []string
	for _, s := range baseSpecs[:2] {
		s.Version = "3.0"
		p, err := resolvetest.WriteRPM(t.TempDir(), s)
		if err != nil {
			t.Fatal(err)
		}
		newer = append(newer, p)
	}
	if _, err := repo.Publish(context.Background(), repo.Options{Dir: dir, Packages: newer, Key: testKey(), SourceDateEpoch: sde}); err != nil {
		t.Fatal(err)
	}
	want := dockerArchive(t, first)
	for i := 0; i < 2; i++ {
		res, err := build([]string{url}, containerYAML, lock, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dockerArchive(t, res), want) {
			t.Errorf("locked build %d differs from the build that wrote the lock", i+1)
		}
		if versionOf(res.Manifest, "app") != "2.0" {
			t.Errorf("locked build %d: app %s", i+1, versionOf(res.Manifest, "app"))
		}
	}
	if b, _ := os.ReadFile(lockPath); !bytes.Equal(b, written) {
		t.Error("a locked build rewrote the lock")
	}
	unlocked, err := build([]string{url}, containerYAML, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if versionOf(unlocked.Manifest, "app") != "3.0" {
		t.Errorf("unlocked build: app %s, want 3.0", versionOf(unlocked.Manifest, "app"))
	}

	// Locks that no longer resolve.
	var gone []resolvetest.Spec
	for _, s := range baseSpecs {
		if s.Name == "app" {
			s.Version = "3.0"
		}
		gone = append(gone, s)
	}
	goneRepo := genRepo(t, gone)
	other := strings.Replace(containerYAML, "packages: [app]", "packages: [app, liby]", 1)
	for _, tc := range []struct {
		name  string
		repos []string
		yaml  string
		want  []string
	}{
		{"package gone", []string{goneRepo}, containerYAML, []string{"no longer resolves", "app-2.0-1.noarch is gone; the repositories have 3.0-1", "build without --locked"}},
		{"request changed", []string{url}, other, []string{"written for another request", "build without --locked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := build(tc.repos, tc.yaml, lock, out)
			if err == nil {
				t.Fatal("built")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q", w)
				}
			}
			if m, _ := os.ReadDir(out); len(m) != 0 {
				t.Errorf("output left: %v", m)
			}
		})
	}
}

var goodLock = `{
  "lock_version": 1,
  "image": "x",
  "arch": "x86_64",
  "request": "` + strings.Repeat("a", 64) + `",
  "repositories": ["https://example.invalid/repo"],
  "packages": [
    {"name": "base", "epoch": 0, "version": "1.0", "release": "1", "arch": "noarch",
     "sha256": "` + strings.Repeat("b", 64) + `", "size": 10,
     "repository": "https://example.invalid/repo", "href": "Packages/b/base-1.0-1.noarch.rpm"}
  ]
}
`

func TestParseLock(t *testing.T) {
	if _, err := ParseLock("x.lock", []byte(goodLock)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"syntax", `"arch": "x86_64",`, `"arch": "x86_64"`, "x.lock:5: invalid character"},
		{"unknown key", `"arch"`, `"archh"`, `x.lock:4: unknown field "archh"`},
		{"wrong type", `"size": 10`, `"size": "10"`, "x.lock:9: field packages.size: expected int64, got string"},
		{"version", `"lock_version": 1`, `"lock_version": 2`, "lock_version 2: this Keel reads version 1"},
		{"bad sha", strings.Repeat("b", 64), "B", "packages[0] (base): sha256 \"B\""},
		{"href leaves", "Packages/b/base", "../b/base", "href \"../b/base"},
		{"no name", `"name": "base"`, `"name": ""`, "packages[0]: name, version, release and arch are required"},
		{"two values", "  ]\n}\n", "  ]\n}\n{}", "more than one JSON value"},
	} {
		_, err := ParseLock("x.lock", []byte(strings.Replace(goodLock, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(goodLock))
	f.Add([]byte(`{"lock_version": 1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock("f.lock", data)
		if err != nil {
			return
		}
		// What parses re-parses from its own bytes to the same bytes.
		again, err := ParseLock("f.lock", l.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(again.Marshal(), l.Marshal()) {
			t.Fatal("not stable")
		}
	})
}

// validateLock checks a written lock against docs/schema/lock.schema.json.
func validateLock(t *testing.T, data []byte) {
	t.Helper()
	sch := compileSchema(t, filepath.Join(filepath.Dir(schemaPath), "lock.schema.json"))
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("lock does not validate against its schema: %v", err)
	}
}
