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
		{"name: [\n", "keel.yaml:1: "},
		{"version: '1'\narch: x86_64\ndist_tag: .x1\n", `field "name" is required`},
		{strings.Replace(base, ".x1", "x1", 1), "must start with '.'"},
		{base + "source_date_epoch: yesterday\n", "keel.yaml:5: field `source_date_epoch`: want \"changelog\""},
		// Strict decoding: unknown keys with the known ones and a near miss,
		// type errors without Go's vocabulary.
		{base + "pretty_nme: X\n", "keel.yaml:5: unknown key `pretty_nme` at the top level (known: arch, bug_url,"},
		{base + "pretty_nme: X\n", "did you mean `pretty_name`?"},
		{base + "build:\n  jbos: 2\n", "keel.yaml:6: unknown key `jbos` in `build` (known: jobs, sandbox); did you mean `jobs`?"},
		{base + "build:\n  jobs: abc\n", "keel.yaml:6: field `build.jobs`: expected an integer, got \"abc\""},
		{base + "build: [1]\n", "keel.yaml:5: field `build`: expected a mapping, got a list"},
		{base + "hardening:\n  require: pie\n", "field `hardening.require`: expected a list, got \"pie\""},
		{base + "name: [\n", "keel.yaml:"},
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
var pipelineSections = Sections

// The JSON Schema for editors must describe exactly the keys Config reads.
func TestSchemaMatchesConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "schema", "keel.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		AdditionalProperties any `json:"additionalProperties"`
		Properties           map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.AdditionalProperties != false {
		t.Error("schema allows additional top-level keys; ParseConfig refuses them")
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
	f.Add([]byte("build:\n  jobs: abc\n  sandbx: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseConfig(data); err != nil {
			for _, internal := range []string{"strconv.", "in type ", "distro.", "!!"} {
				if strings.Contains(err.Error(), internal) {
					t.Fatalf("decoder-internal text %q in %q", internal, err)
				}
			}
		}
	})
}
