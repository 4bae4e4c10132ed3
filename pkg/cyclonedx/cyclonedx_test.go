package cyclonedx

import (
	"testing"
	"time"
)

func TestBuildRoundTrip(t *testing.T) {
	bom := Build(BOM{Name: "img", Version: "1.0", Created: time.Unix(0, 0), Tool: "keel", ToolVer: "test",
		Components: []Component{{Name: "zlib", Version: "1.2.13-1.kl1", Purl: "pkg:rpm/keel/zlib@1.2.13-1.kl1",
			Files: []File{{Path: "/usr/lib64/libz.so.1", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}}})
	b, err := Marshal(bom)
	if err != nil {
		t.Fatal(err)
	}
	purls, err := Purls("rt", b)
	if err != nil || len(purls) != 1 {
		t.Fatalf("%v %v", purls, err)
	}
	if _, err := Purls("bad", []byte(`{"bomFormat":"SPDX"}`)); err == nil {
		t.Fatal("non-CycloneDX accepted")
	}
}

func FuzzPurls(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","purl":"pkg:rpm/keel/a@1-1","components":[{"type":"file","name":"/x"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { Purls("f", b) })
}
