package spdx

import (
	"testing"
	"time"
)

func TestBuildRoundTrip(t *testing.T) {
	doc := Build(Document{Name: "img", Namespace: "https://keel-linux.io/spdx", Created: time.Unix(0, 0), Creator: "keel-test",
		Packages: []Package{{Name: "zlib", Version: "1.2.13-1.kl1", Purl: "pkg:rpm/keel/zlib@1.2.13-1.kl1?arch=x86_64",
			Files: []File{{Path: "/usr/lib64/libz.so.1", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}}})
	b, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	purls, err := Purls("rt", b)
	if err != nil || len(purls) != 1 || purls[0] != "pkg:rpm/keel/zlib@1.2.13-1.kl1?arch=x86_64" {
		t.Fatalf("%v %v", purls, err)
	}
	if doc.Packages[0].PackageVerificationCode.Value != VerificationCode([]string{"da39a3ee5e6b4b0d3255bfef95601890afd80709"}) {
		t.Fatal("verification code")
	}
	if _, err := Purls("bad", []byte(`{"spdxVersion":`)); err == nil {
		t.Fatal("truncated JSON accepted")
	}
}

func FuzzPurls(f *testing.F) {
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"name":"a","SPDXID":"SPDXRef-a","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:rpm/keel/a@1-1"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { Purls("f", b) })
}
