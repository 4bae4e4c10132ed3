package image

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/internal/testenv"
)

var schemaPath = filepath.Join(testenv.RepoRoot(), "docs", "schema", "image.schema.json")

// schemaProps maps a JSON pointer-ish path to the property names the
// schema declares there.
func schemaProps(t *testing.T, schemaPath string) (map[string]any, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s, s["$defs"].(map[string]any)
}

// TestSchemaMatchesStruct keeps docs/schema/image.schema.json in step with
// Definition: same property names at every level, both ways.
func TestSchemaMatchesStruct(t *testing.T) {
	schemaMatches(t, schemaPath, "definition", reflect.TypeOf(Definition{}), true)
	schemaMatches(t, filepath.Join(filepath.Dir(schemaPath), "lock.schema.json"), "lock", reflect.TypeOf(Lock{}), false)
}

// schemaMatches walks typ and the schema together; yamlToo: the struct is
// also read from YAML, under the same names.
func schemaMatches(t *testing.T, schemaPath, name string, typ reflect.Type, yamlToo bool) {
	root, defs := schemaProps(t, schemaPath)
	var walk func(path string, typ reflect.Type, node map[string]any)
	walk = func(path string, typ reflect.Type, node map[string]any) {
		if ref, ok := node["$ref"].(string); ok {
			node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		props, _ := node["properties"].(map[string]any)
		if node["additionalProperties"] != false {
			t.Errorf("%s: schema object allows additional properties; the YAML loader does not", path)
		}
		var fields, keys []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			if y := strings.Split(f.Tag.Get("yaml"), ",")[0]; yamlToo && y != tag {
				t.Errorf("%s.%s: yaml tag %q, json tag %q", path, f.Name, y, tag)
			}
			fields = append(fields, tag)
			p, ok := props[tag].(map[string]any)
			if !ok {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
				if items, ok := p["items"].(map[string]any); ok {
					p = items
				}
			}
			if ft.Kind() == reflect.Struct {
				walk(path+"."+tag, ft, p)
			}
		}
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(fields)
		sort.Strings(keys)
		if strings.Join(fields, " ") != strings.Join(keys, " ") {
			t.Errorf("%s: struct fields %v, schema properties %v", path, fields, keys)
		}
	}
	walk(name, typ, root)
}

// TestShippedDefinitions loads every distro/images/*.yaml with the loader
// and validates it against the published schema.
func TestShippedDefinitions(t *testing.T) {
	sch := compileSchema(t, schemaPath)
	dir := filepath.Join(testenv.RepoRoot(), "distro", "images")
	defs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range defs {
		names[d.Name] = true
		raw, _ := os.ReadFile(d.Path())
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s: %v", d.Path(), err)
		}
		if filepath.Base(d.Path()) != d.Name+".yaml" {
			t.Errorf("%s: name %q does not match the file name", d.Path(), d.Name)
		}
	}
	for _, want := range []string{"container-core", "distroless"} {
		if !names[want] {
			t.Errorf("distro/images/%s.yaml missing", want)
		}
	}
}

// compileSchema compiles one of docs/schema's files.
func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := "file:///" + filepath.Base(path)
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}
