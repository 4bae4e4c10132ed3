package lifecycle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/keel-linux/keel/internal/testenv"
)

const good = `lines:
  - line: "2.0"
    released: 2022-05-01
    end_of_security_support: 2025-07-31
    end_of_life: 2025-07-31
    successor: "3.0"
  - line: "3.0"
    name: Three
    released: 2024-08-01
    end_of_security_support: 2027-06-30
    end_of_life: 2027-09-30
`

func TestParseAndStatus(t *testing.T) {
	f, err := Parse("lifecycle.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2025, 7, 1, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		line  string
		day   time.Time
		state string
		days  int
	}{
		{"2.0", day, "supported", 30},
		{"2.0", day.AddDate(0, 2, 0), "end-of-life", -32},
		{"3.0", day.AddDate(2, 0, 15), "security-ended", 76},
		{"4.0", day, "unknown", 0},
	} {
		s := f.Status(c.line, c.day)
		if s.State != c.state || s.DaysToEOL != c.days {
			t.Errorf("%s on %s: %+v, want %s, %d days to EOL", c.line, c.day.Format(time.DateOnly), s, c.state, c.days)
		}
	}
	if LineOf("1.0.20261201") != "1.0" || LineOf("3.0") != "3.0" || LineOf("1.0.2026") != "1.0.2026" {
		t.Error("LineOf")
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "lifecycle.yaml:1: `lines` is required"},
		{"lines:\n  - line: x\n    released: 2022-05-01\n    end_of_security_support: 2025-07-31\n    end_of_life: 2025-07-31\n", `lifecycle.yaml:2: lines[0].line: "x": want a version`},
		{"lines:\n  - line: \"1\"\n    released: 2022-05-01\n    end_of_security_support: 2021-07-31\n    end_of_life: 2025-07-31\n", "lifecycle.yaml:4: lines[0].end_of_security_support: 2021-07-31 is before the line was released"},
		{"lines:\n  - line: \"1\"\n    released: May 2022\n    end_of_security_support: 2025-07-31\n    end_of_life: 2025-07-31\n", `lifecycle.yaml:3: lines[0].released: "May 2022": want a date YYYY-MM-DD`},
		{"lines:\n  - line: \"1\"\n    relased: 2022-05-01\n", "unknown key `relased`"},
		{good + "  - line: \"3.0\"\n    released: 2024-08-01\n    end_of_security_support: 2027-06-30\n    end_of_life: 2027-09-30\n", "lifecycle.yaml:12: lines[2].line: 3.0 is also lines[1]"},
	} {
		_, err := Parse("lifecycle.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("lines: [{line: 1}]"))
	f.Add([]byte("lines:\n  - line: \"1\"\n    released: 2022-13-45\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lf, err := Parse("fuzz.yaml", data)
		if err == nil {
			for _, l := range lf.Lines {
				lf.Status(l.Line, time.Unix(0, 0))
			}
		}
	})
}

var schemaPath = filepath.Join(testenv.RepoRoot(), "docs", "schema", "lifecycle.schema.json")

// TestSchema keeps docs/schema/lifecycle.schema.json in step with the
// structs and validates the shipped distro/lifecycle.yaml against it.
func TestSchema(t *testing.T) {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	keys := func(node map[string]any) string {
		var k []string
		for p := range node["properties"].(map[string]any) {
			k = append(k, p)
		}
		sort.Strings(k)
		return strings.Join(k, " ")
	}
	fields := func(typ reflect.Type) string {
		var k []string
		for i := 0; i < typ.NumField(); i++ {
			if tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" {
				k = append(k, tag)
			}
		}
		sort.Strings(k)
		return strings.Join(k, " ")
	}
	item := s["properties"].(map[string]any)["lines"].(map[string]any)["items"].(map[string]any)
	if keys(s) != fields(reflect.TypeOf(File{})) || keys(item) != fields(reflect.TypeOf(Line{})) {
		t.Errorf("schema %q / %q, structs %q / %q", keys(s), keys(item), fields(reflect.TypeOf(File{})), fields(reflect.TypeOf(Line{})))
	}
	sch, err := jsonschema.NewCompiler().Compile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testenv.RepoRoot(), "distro")
	lf, err := Load(dir)
	if err != nil || lf == nil || lf.Find("1.0") == nil {
		t.Fatalf("distro/lifecycle.yaml: %v %+v", err, lf)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(v)
	var inst any
	if err := json.Unmarshal(js, &inst); err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("distro/lifecycle.yaml: %v", err)
	}
}
