package rpm

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkReadPackage(b *testing.B) {
	data, err := os.ReadFile(rpmbuild(b, richSpec)[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p, err := ReadPackage(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Header.Files(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVercmp(b *testing.B) {
	for b.Loop() {
		Vercmp("1.2.3~rc1^git20240101.abc", "1.2.3~rc1^git20240102.abd")
	}
}
