package cyclonedx

import (
	"bytes"
	"slices"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

func sample() BOM {
	return BOM{Name: "img", Version: "1.0", Created: time.Unix(0, 0), Tool: "keel", ToolVer: "test",
		Components: []Component{
			{Name: "zlib", Version: "1.2.13-1.kl1", Purl: "pkg:rpm/keel/zlib@1.2.13-1.kl1", Supplier: "Keel Linux", License: "Zlib",
				Description: "compression <library> & more", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				Files: []File{{Path: "/usr/lib64/libz.so.1", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}},
			{Name: "a", Version: "1-1", Purl: "pkg:rpm/keel/a@1-1"},
		},
		Dependencies: []Dependency{{Ref: "pkg:rpm/keel/zlib@1.2.13-1.kl1", DependsOn: []string{"pkg:rpm/keel/a@1-1"}}}}
}

func TestBuildRoundTrip(t *testing.T) {
	b, err := Marshal(Build(sample()))
	if err != nil {
		t.Fatal(err)
	}
	purls, err := Purls("rt", b)
	if err != nil || !slices.Equal(purls, []string{"pkg:rpm/keel/a@1-1", "pkg:rpm/keel/zlib@1.2.13-1.kl1"}) {
		t.Fatalf("%v %v", purls, err)
	}
	if _, err := Purls("bad", []byte(`{"bomFormat":"SPDX"}`)); err == nil {
		t.Fatal("non-CycloneDX accepted")
	}
}

// TestReadByCycloneDXGo: the reference library (a test-only dependency)
// reads keel's BOM, and writing what it read gives keel's bytes back: same
// fields, same order, same escaping.
func TestReadByCycloneDXGo(t *testing.T) {
	b, err := Marshal(Build(sample()))
	if err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.Components == nil || len(*bom.Components) != 2 ||
		bom.Dependencies == nil || len(*bom.Dependencies) != 2 || (*bom.Components)[1].Supplier.Name != "Keel Linux" {
		t.Fatalf("cyclonedx-go read %+v", bom)
	}
	var again bytes.Buffer
	if err := cdx.NewBOMEncoder(&again, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(&bom, cdx.SpecVersion1_6); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), b) {
		t.Errorf("cyclonedx-go writes it back differently:\n%s\nkeel:\n%s", again.Bytes(), b)
	}
}

// TestPurlsOlderVersions reads a 1.4-style BOM (tools as an array), as
// other tools write them.
func TestPurlsOlderVersions(t *testing.T) {
	in := `{"bomFormat":"CycloneDX","specVersion":"1.4","metadata":{"tools":[{"vendor":"x","name":"y"}]},
	"components":[{"type":"library","name":"b","purl":"pkg:rpm/x/b@2","licenses":[{"license":{"id":"MIT"}}]}]}`
	purls, err := Purls("old", []byte(in))
	if err != nil || !slices.Equal(purls, []string{"pkg:rpm/x/b@2"}) {
		t.Fatalf("%v %v", purls, err)
	}
}

func FuzzPurls(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","purl":"pkg:rpm/keel/a@1-1","components":[{"type":"file","name":"/x"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { Purls("f", b) })
}
