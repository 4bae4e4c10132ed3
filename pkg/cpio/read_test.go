package cpio

import (
	"bytes"
	"io"
	"testing"
)

func TestReaderRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.WriteHeader(&Header{Name: "d", Mode: TypeDir | 0o755})
	w.WriteHeader(&Header{Name: "d/f", Mode: TypeReg | 0o644, Size: 5})
	w.Write([]byte("hello"))
	w.Close()
	r := NewReader(&b)
	var names []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
		if e.Name == "d/f" {
			data, _ := io.ReadAll(r)
			if string(data) != "hello" {
				t.Errorf("data %q", data)
			}
		}
	}
	if len(names) != 2 {
		t.Errorf("entries %v", names)
	}
}

func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	w := NewRawWriter(&b)
	w.WriteEntry(Entry{Name: "./a", Mode: 0o100644, Nlink: 1}, []byte("x"))
	w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	})
}
