package repodata

import (
	"os"
	"testing"
)

// BenchmarkUpdate adds one package to a repository of 100 re-using its state.
func BenchmarkUpdate(b *testing.B) {
	dir := b.TempDir()
	base := make([]*Package, 0, 101)
	for i := range 101 {
		p := &Package{PkgID: fmtID(i), Name: "p" + fmtID(i)[:6], Arch: "noarch", Href: "Packages/" + fmtID(i) + ".rpm", Size: 1000, Mtime: 1}
		p.Primary = []byte("<package type=\"rpm\"><name>" + p.Name + "</name><checksum type=\"sha256\" pkgid=\"YES\">" + p.PkgID + "</checksum><location href=\"" + p.Href + "\"/><summary></summary></package>\n")
		p.Filelists = []byte("<package pkgid=\"" + p.PkgID + "\"></package>\n")
		p.Other = []byte("<package pkgid=\"" + p.PkgID + "\"></package>\n")
		base = append(base, p)
	}
	md, err := WriteMetadata(dir+"/repodata", append([]*Package(nil), base[:100]...), WriteOptions{Timestamp: 1, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, dir+"/repodata/repomd.xml", md.Marshal())
	for b.Loop() {
		st, err := ReadState(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := WriteMetadata(b.TempDir(), append(st.Packages, base[100]), WriteOptions{Timestamp: 1, Previous: st, NoSync: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func fmtID(i int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 64)
	x := uint64(i)*0x9e3779b97f4a7c15 + 12345
	for j := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[j] = hex[x&15]
	}
	return string(b)
}

func writeFile(b *testing.B, p string, data []byte) {
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
