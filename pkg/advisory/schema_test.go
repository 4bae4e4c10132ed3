package advisory

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keel-linux/keel/internal/testenv"
)

// Official schemas come from Go modules that ship them (CI reaches only the
// module proxy): the OSV schema from github.com/ossf/osv-schema, the CSAF
// 2.0 schema (and the FIRST CVSS schemas it references) from
// github.com/gocsaf/csaf/v3.
const (
	osvSchemaModule  = "github.com/ossf/osv-schema@v1.9.0"
	csafSchemaModule = "github.com/gocsaf/csaf/v3@v3.6.0"
)

// moduleDir downloads (or finds in the cache) a module and returns its dir.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		testenv.Missing(t, "go mod download %s: %v", mod, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %s %v", mod, m.Error, err)
	}
	return m.Dir
}

// compileSchema loads a schema file plus extra resources (url → file).
func compileSchema(t *testing.T, main string, extra map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	add := func(url, file string) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	add("file:///main.json", main)
	for u, f := range extra {
		add(u, f)
	}
	s, err := c.Compile("file:///main.json")
	if err != nil {
		t.Fatalf("compiling %s: %v", main, err)
	}
	return s
}

// validate returns the instance locations of the leaf errors.
func validate(t *testing.T, s *jsonschema.Schema, data []byte) []string {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	var locs []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := ""
			for _, p := range e.InstanceLocation {
				loc += "/" + p
			}
			locs = append(locs, loc+": "+e.Error())
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return locs
}

func osvSchema(t *testing.T) *jsonschema.Schema {
	return compileSchema(t, filepath.Join(moduleDir(t, osvSchemaModule), "validation", "schema.json"), nil)
}

func csafSchema(t *testing.T) *jsonschema.Schema {
	dir := filepath.Join(moduleDir(t, csafSchemaModule), "csaf", "schema")
	return compileSchema(t, filepath.Join(dir, "csaf_json_schema.json"), map[string]string{
		"https://www.first.org/cvss/cvss-v2.0.json": filepath.Join(dir, "cvss-v2.0.json"),
		"https://www.first.org/cvss/cvss-v3.0.json": filepath.Join(dir, "cvss-v3.0.json"),
		"https://www.first.org/cvss/cvss-v3.1.json": filepath.Join(dir, "cvss-v3.1.json"),
	})
}
