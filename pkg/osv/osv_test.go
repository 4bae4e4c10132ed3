package osv

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ name, in, err string }{
		{"ok", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.13.dfsg-1"}]}]}]}`, ""},
		{"no id", `{"modified":"2024-01-01T00:00:00Z"}`, "id: required"},
		{"no modified", `{"id":"A"}`, "modified: required"},
		{"bad json", "{\n\"id\": ]", "line 2"},
		{"wrong type", `{"id":5}`, "field id"},
		{"two kinds in one event", `{"id":"A","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"E","name":"n"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}]}`, "exactly one"},
		{"fixed and last_affected", `{"id":"A","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"E","name":"n"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1"},{"last_affected":"2"}]}]}]}`, "mutually exclusive"},
		{"unknown range type", `{"id":"A","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"E","name":"n"},"ranges":[{"type":"RPM","events":[{"introduced":"0"}]}]}]}`, "unknown \"RPM\""},
		{"bad ref type", `{"id":"A","modified":"2024-01-01T00:00:00Z","references":[{"type":"BLOG","url":"u"}]}`, "references[0].type"},
		{"trailing", `{"id":"A","modified":"2024-01-01T00:00:00Z"} {}`, "trailing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Parse("f.json", []byte(c.in))
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := Marshal(v)
				if _, err := Parse("rt", b); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "f.json") {
				t.Fatalf("got %v, want %q", err, c.err)
			}
		})
	}
}

func TestReadAllShapes(t *testing.T) {
	rec := `{"id":"A","modified":"2024-01-01T00:00:00Z"}`
	for _, in := range []string{rec, "[" + rec + "," + rec + "]", `{"vulns":[` + rec + `]}`} {
		vs, err := ReadAll("x", strings.NewReader(in))
		if err != nil || len(vs) == 0 {
			t.Fatalf("%s: %v", in, err)
		}
	}
	if _, err := ReadAll("x", strings.NewReader("  ")); err == nil {
		t.Fatal("empty accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"E","name":"n"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Parse("f", b)
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("rt", out); err != nil {
			t.Fatalf("re-parse of accepted record failed: %v", err)
		}
	})
}
