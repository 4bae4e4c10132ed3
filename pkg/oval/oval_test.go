package oval

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

func TestParseRealFeedRoundTrip(t *testing.T) {
	for _, rel := range []string{"data/azurelinux-oval/azurelinux-3.0-oval-2024-09-09.xml", "data/azurelinux-oval/azurelinux-3.0-oval-2024-10-10.xml"} {
		p := testenv.RequireShared(t, rel)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(p, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Definitions) < 1200 || len(d.Tests) != len(d.Definitions) || len(d.States) != len(d.Definitions) {
			t.Fatalf("%s: %d definitions, %d tests, %d states", rel, len(d.Definitions), len(d.Tests), len(d.States))
		}
		b, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Parse("rt", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := Marshal(d2)
		if !bytes.Equal(b, b2) {
			t.Fatal("marshal is not stable across a round trip")
		}
	}
}

func TestCheckErrors(t *testing.T) {
	head := `<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5" xmlns:oval="http://oval.mitre.org/XMLSchema/oval-common-5" xmlns:l="http://oval.mitre.org/XMLSchema/oval-definitions-5#linux"><generator><oval:schema_version>5.11</oval:schema_version><oval:timestamp>t</oval:timestamp></generator>`
	def := `<definitions><definition id="oval:x:def:1" version="1" class="vulnerability"><metadata><title>t</title><description>d</description></metadata><criteria><criterion test_ref="oval:x:tst:1"/></criteria></definition></definitions>`
	test := `<tests><l:rpminfo_test id="oval:x:tst:1" version="1" check="at least one"><l:object object_ref="oval:x:obj:1"/><l:state state_ref="oval:x:ste:1"/></l:rpminfo_test></tests>`
	obj := `<objects><l:rpminfo_object id="oval:x:obj:1" version="1"><l:name>zlib</l:name></l:rpminfo_object></objects>`
	for _, c := range []struct{ name, doc, want string }{
		{"ok", head + def + test + obj + `<states><l:rpminfo_state id="oval:x:ste:1" version="1"><l:evr datatype="evr_string" operation="less than">0:1-1</l:evr></l:rpminfo_state></states></oval_definitions>`, ""},
		{"bad op", head + def + test + obj + `<states><l:rpminfo_state id="oval:x:ste:1" version="1"><l:evr datatype="evr_string" operation="pattern match">x</l:evr></l:rpminfo_state></states></oval_definitions>`, "not supported"},
		{"bad datatype", head + def + test + obj + `<states><l:rpminfo_state id="oval:x:ste:1" version="1"><l:evr datatype="version" operation="less than">x</l:evr></l:rpminfo_state></states></oval_definitions>`, "evr_string"},
		{"missing state", head + def + test + obj + `</oval_definitions>`, "state_ref"},
		{"bad class", head + strings.Replace(def, "vulnerability", "vuln", 1) + test + obj + `</oval_definitions>`, "class"},
		{"bad id", head + strings.Replace(def, "oval:x:def:1", "def1", 1) + `</oval_definitions>`, "expected oval:"},
		{"not oval", `<html/>`, "not an OVAL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.xml", strings.NewReader(c.doc))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><generator/></oval_definitions>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse("f", bytes.NewReader(b))
		if err != nil {
			return
		}
		out, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("rt", bytes.NewReader(out)); err != nil {
			t.Fatalf("re-parse of an accepted document failed: %v", err)
		}
	})
}
