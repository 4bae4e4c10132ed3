package strictyaml

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type inner struct {
	Jobs    int    `yaml:"jobs"`
	Sandbox string `yaml:"sandbox"`
}

type conf struct {
	Name  string               `yaml:"name"`
	On    *bool                `yaml:"on"`
	Build inner                `yaml:"build"`
	List  []inner              `yaml:"list"`
	Map   map[string]int       `yaml:"map"`
	Extra map[string]yaml.Node `yaml:",inline"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"name: x\nbuild: {jobs: 2}\nrelease: {anything: 1}\n", ""},
		{"name: x\nnmae: y\n", "f.yaml:2: unknown key `nmae` at the top level (known: build, list, map, name, on, release); did you mean `name`?"},
		{"build:\n  jbos: 1\n", "f.yaml:2: unknown key `jbos` in `build` (known: jobs, sandbox); did you mean `jobs`?"},
		{"build:\n  zzz: 1\n", "(known: jobs, sandbox)"},
		{"list:\n  - jobs: x\n", "f.yaml:2: field `list[0].jobs`: expected an integer, got \"x\""},
		{"map: {a: b}\n", "f.yaml:1: field `map.a`: expected an integer, got \"b\""},
		{"on: 3\n", "field `on`: expected true or false, got \"3\""},
		{"name: [a]\n", "field `name`: expected a string, got a list"},
		{"build: x\n", "field `build`: expected a mapping, got \"x\""},
		{"name: [\n", "f.yaml:1: "},
		{"a: 1\nb: 2\n", "f.yaml:1: unknown key `a`"},
	} {
		var c conf
		err := Decode("f.yaml", []byte(tc.in), &c, "release")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	// Every unknown key is reported, one per line.
	var c conf
	err := Decode("f.yaml", []byte("a: 1\nb: 2\n"), &c)
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two unknown keys: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: x\nbuild: {jobs: 2, sandbox: bwrap}\nlist: [{jobs: 1}]\nmap: {a: 1}\n"))
	f.Add([]byte("build:\n  jbos: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c conf
		if err := Decode("f.yaml", data, &c, "release"); err != nil {
			for _, internal := range []string{"strconv.", "in type ", "strictyaml.", "!!"} {
				if strings.Contains(err.Error(), internal) {
					t.Fatalf("decoder-internal text %q in %q", internal, err)
				}
			}
		}
	})
}
