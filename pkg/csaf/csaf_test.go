package csaf

import (
	"strings"
	"testing"
)

const doc = `{"document":{"category":"csaf_vex","csaf_version":"2.0","title":"t","publisher":{"category":"vendor","name":"K","namespace":"https://k"},
"tracking":{"id":"x","status":"final","version":"1","initial_release_date":"2024-01-01T00:00:00Z","current_release_date":"2024-01-01T00:00:00Z","revision_history":[{"date":"2024-01-01T00:00:00Z","number":"1","summary":"s"}]}},
"product_tree":{"branches":[{"category":"vendor","name":"K","branches":[{"category":"product_name","name":"zlib","branches":[{"category":"product_version","name":"1.2.13-2","product":{"name":"zlib 1.2.13-2","product_id":"zlib-fixed","product_identification_helper":{"purl":"pkg:rpm/keel/zlib@1.2.13-2"}}}]}]}]},
"vulnerabilities":[{"cve":"CVE-2023-45853","product_status":{"fixed":["zlib-fixed"]}}]}`

func TestParse(t *testing.T) {
	d, err := Parse("d.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if p := d.Products()["zlib-fixed"]; p.Helper == nil || p.Helper.PURL != "pkg:rpm/keel/zlib@1.2.13-2" {
		t.Fatalf("%+v", p)
	}
	bad := strings.Replace(doc, `"fixed":["zlib-fixed"]`, `"fixed":["nope"]`, 1)
	if _, err := Parse("d.json", []byte(bad)); err == nil || !strings.Contains(err.Error(), `"nope" is not in the product tree`) {
		t.Fatal(err)
	}
	if _, err := Parse("d.json", []byte(strings.Replace(doc, `"2.0"`, `"1.2"`, 1))); err == nil {
		t.Fatal("csaf 1.2 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(doc))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse("f", b)
		if err == nil {
			Marshal(d)
		}
	})
}
