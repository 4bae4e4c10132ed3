package distro

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestLoadKeelLinux(t *testing.T) {
	d, err := Load(filepath.Join(testenv.RepoRoot(), "distro"))
	if err != nil {
		t.Fatal(err)
	}
	c := d.Config
	if c.Name != "keel" || c.Version != "1.0" || c.DistTag != ".kl1" || !c.SDE.FromChangelog || c.Build.Sandbox != "bwrap" {
		t.Errorf("unexpected config: %+v", c)
	}
	names, err := d.PackageNames()
	if err != nil || len(names) < 10 {
		t.Fatalf("packages: %v %v", names, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := "name: x\nversion: '1'\narch: x86_64\ndist_tag: .x1\n"
	for _, tc := range []struct{ in, want string }{
		{"name: [\n", "line"},
		{"version: '1'\narch: x86_64\ndist_tag: .x1\n", `field "name" is required`},
		{strings.Replace(base, ".x1", "x1", 1), "must start with '.'"},
		{base + "source_date_epoch: yesterday\n", "line 5: source_date_epoch"},
		{base + "build:\n  sandbox: docker\n", "build.sandbox"},
		{base + "hardening:\n  exemptions:\n    - {package: a, path: /x, checks: [pie]}\n", "needs a written reason"},
		{base + "hardening:\n  require: [aslr]\n", `unknown check "aslr"`},
	} {
		_, err := ParseConfig([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

// pipelineSections are keel.yaml sections that pipelines read from
// Config.Extra (release and security: pkg/release).
var pipelineSections = []string{"release", "security"}

// The JSON Schema for editors must describe exactly the keys Config reads.
func TestSchemaMatchesConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "schema", "keel.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var want []string
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		tag := strings.Split(ct.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" {
			want = append(want, tag)
		}
	}
	// Sections owned by pipelines (decoded from Config.Extra) are documented too.
	want = append(want, pipelineSections...)
	var got []string
	for k := range schema.Properties {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("schema properties %v\nConfig fields     %v", got, want)
	}
}

func TestMaterialize(t *testing.T) {
	fsys := fstest.MapFS{
		"keel.yaml":         {Data: []byte("name: x\n")},
		"SPECS/a/a.spec":    {Data: []byte("Name: a\n")},
		"SPECS/a/helper.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"embed.go":          {Data: []byte("package distro\n")},
	}
	cache := t.TempDir()
	dir, err := Materialize(fsys, cache)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Materialize(fsys, cache)
	if err != nil || again != dir {
		t.Fatalf("second materialize: %s %v (first %s)", again, err, dir)
	}
	if st, err := os.Stat(filepath.Join(dir, "SPECS/a/helper.sh")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("executable bit lost: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "embed.go")); err == nil {
		t.Error("embed.go materialized")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("name: x\nversion: '1'\narch: x86_64\ndist_tag: .x1\n"))
	if b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "distro", "keel.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseConfig(data)
	})
}
