package ldso

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"reflect"
	"testing"
)

func hostELF(t testing.TB) []byte {
	t.Helper()
	for _, p := range []string{"/bin/true", "/usr/bin/true", "/bin/sh"} {
		if b, err := os.ReadFile(p); err == nil && IsELF(b) {
			return b
		}
	}
	t.Skip("no ELF executable on the host")
	return nil
}

func TestReadHost(t *testing.T) {
	o, err := Read("true", bytes.NewReader(hostELF(t)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Interp == "" || len(o.Needed) == 0 || o.Static() {
		t.Fatalf("a dynamic executable read as %+v", o)
	}
	found := false
	for _, vn := range o.Requires {
		if vn.File == "libc.so.6" && len(vn.Versions) > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no libc.so.6 version needs in %+v", o.Requires)
	}
}

func TestCorrupt(t *testing.T) {
	good := hostELF(t)
	for _, n := range []int{4, 16, 64, 200, len(good) / 2} {
		if _, err := Read("cut", bytes.NewReader(good[:n])); err == nil {
			t.Errorf("ELF cut at %d bytes: no error", n)
		}
	}
	if _, err := Read("text", bytes.NewReader([]byte("hello world, not an ELF"))); !errors.Is(err, ErrNotELF) {
		t.Errorf("text: %v, want ErrNotELF", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(hostELF(f))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Read("fuzz", bytes.NewReader(b))
		if err == nil && o == nil {
			t.Fatal("nil object without error")
		}
		Shebang(b)
	})
}

func TestShebang(t *testing.T) {
	for _, c := range []struct{ in, interp, arg string }{
		{"#!/bin/sh\necho", "/bin/sh", ""},
		{"#! /usr/bin/env  python3 \r\n", "/usr/bin/env", "python3"},
		{"#!/usr/bin/perl -w -T\n", "/usr/bin/perl", "-w -T"},
		{"#!\n", "", ""},
	} {
		i, a, ok := Shebang([]byte(c.in))
		if !ok || i != c.interp || a != c.arg {
			t.Errorf("Shebang(%q) = %q %q %v, want %q %q", c.in, i, a, ok, c.interp, c.arg)
		}
	}
	if _, _, ok := Shebang([]byte("\x7fELF")); ok {
		t.Error("an ELF file read as a script")
	}
}

func TestConf(t *testing.T) {
	files := map[string]string{
		"/etc/ld.so.conf":           "# comment\ninclude ld.so.conf.d/*.conf\n/opt/top/\nrelative/dir\nhwcap 1 x\n",
		"/etc/ld.so.conf.d/b.conf":  "/opt/b\ninclude /etc/loop.conf\n",
		"/etc/ld.so.conf.d/a.conf":  "/opt/a # trailing\n/opt/top\n",
		"/etc/ld.so.conf.d/c.other": "/opt/never\n",
		"/etc/loop.conf":            "include /etc/loop.conf\n",
	}
	c := ConfReader{
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
		Glob: func(pat string) ([]string, error) {
			var out []string
			for p := range files {
				if ok, _ := path.Match(pat, p); ok {
					out = append(out, p)
				}
			}
			return out, nil
		},
	}
	_, err := c.Parse(ConfFile)
	if err == nil {
		t.Fatal("an include loop: no error")
	}
	delete(files, "/etc/loop.conf")
	dirs, err := c.Parse(ConfFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/opt/a", "/opt/top", "/opt/b"}; !reflect.DeepEqual(dirs, want) {
		t.Errorf("dirs %v, want %v", dirs, want)
	}
}

// TestSearch is the loader's search order over a synthetic root.
func TestSearch(t *testing.T) {
	lib := func(soname string, needed []string, rpath, runpath []string) *Object {
		return &Object{Class: elf.ELFCLASS64, Machine: elf.EM_X86_64, Soname: soname, Needed: needed,
			RPath: rpath, RunPath: runpath, HasRunPath: runpath != nil, Dynamic: true}
	}
	root := map[string]*Object{
		"/app/lib/liba.so.1":  lib("liba.so.1", []string{"libb.so.1"}, nil, nil),
		"/app/lib/libb.so.1":  lib("libb.so.1", nil, nil, nil),
		"/app/rlib/libc2.so":  lib("libc2.so", nil, nil, nil),
		"/usr/lib64/libd.so":  lib("libd.so", nil, nil, nil),
		"/usr/lib64/libw.so":  {Class: elf.ELFCLASS32, Machine: elf.EM_386},
		"/opt/conf/libw.so":   lib("libw.so", nil, nil, nil),
		"/lib64/ld-linux.so":  lib("ld-linux-x86-64.so.2", nil, nil, nil),
		"/app/lib/libr.so.1":  lib("libr.so.1", []string{"libc2.so"}, nil, []string{"$ORIGIN"}),
		"/app/lib/libpl.so.1": lib("libpl.so.1", nil, nil, nil),
	}
	ld := &Loader{
		Open: func(p string) (*Object, string, error) {
			if o, ok := root[p]; ok {
				return o, p, nil
			}
			return nil, "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		},
		Class: elf.ELFCLASS64, Machine: elf.EM_X86_64, Interp: "/lib64/ld-linux.so",
		CacheDirs: []string{"/opt/conf"}, SystemDirs: []string{"/lib64", "/usr/lib64"}, Lib: "lib64", Platform: "x86_64",
	}
	for _, c := range []struct {
		name    string
		main    *Object
		missing []string
	}{
		// RPATH with $ORIGIN reaches liba and (inherited) libb.
		{"rpath-origin", lib("", []string{"liba.so.1"}, []string{"$ORIGIN/../lib"}, nil), nil},
		// RUNPATH reaches liba but is not used for liba's own libb.
		{"runpath-direct-only", lib("", []string{"liba.so.1"}, nil, []string{"${ORIGIN}/../lib"}), []string{"libb.so.1"}},
		// RUNPATH present: the RPATH beside it is ignored.
		{"runpath-hides-rpath", lib("", []string{"liba.so.1"}, []string{"/app/lib"}, []string{"/nowhere"}), []string{"liba.so.1"}},
		// A library with a RUNPATH of its own gets no RPATH at all, not even
		// the program's: libc2.so in /app/rlib is not found for it.
		{"runpath-lib-no-inherited-rpath", lib("", []string{"libr.so.1"}, []string{"/app/lib", "/app/rlib"}, nil), []string{"libc2.so"}},
		// A library of the wrong class is skipped; ld.so.cache's directory has the right one.
		{"wrong-class-skipped", lib("", []string{"libw.so", "libd.so"}, nil, nil), nil},
		{"missing", lib("", []string{"libnope.so.9"}, []string{"/$LIB/x", "$PLATFORM"}, nil), []string{"libnope.so.9"}},
		{"interp-by-soname", lib("", []string{"ld-linux-x86-64.so.2"}, nil, nil), nil},
		{"slash-name", lib("", []string{"/app/lib/libpl.so.1", "lib/libb.so.1"}, nil, nil), []string{"lib/libb.so.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := ld.Load("/app/bin/prog", c.main)
			var got []string
			for _, m := range res.Missing {
				got = append(got, m.Name)
			}
			if !reflect.DeepEqual(got, c.missing) {
				t.Errorf("missing %v, want %v (loaded %+v)", got, c.missing, res.Loaded)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	l := &Loader{Lib: "lib64", Platform: "x86_64"}
	for in, want := range map[string]string{
		"$ORIGIN/../lib": "/o/../lib", "${ORIGIN}/x": "/o/x", "/$LIB/$PLATFORM": "/lib64/x86_64",
		"$ORIGINX": "$ORIGINX", "/plain": "/plain", "${LIB}": "lib64",
	} {
		if got := l.expand(in, "/o"); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&Loader{}).expand("$LIB/x", "/o"); got != "" {
		t.Errorf("unknown $LIB: %q, want the entry dropped", got)
	}
}
