package elfcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

const cProg = `#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
	char buf[64];
	strcpy(buf, argc > 1 ? argv[1] : "hi");
	printf("%s\n", buf);
	return 0;
}
`

// TestCheckBuilt compiles one program with different flags and checks that
// each missing protection is seen, and only that one.
func TestCheckBuilt(t *testing.T) {
	testenv.RequireTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte(cProg), 0o644); err != nil {
		t.Fatal(err)
	}
	hard := []string{"-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"}
	for _, tc := range []struct {
		name  string
		flags []string
		fail  []string
	}{
		{"hardened", hard, nil},
		{"no-pie", []string{"-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fno-pie", "-no-pie", "-Wl,-z,relro", "-Wl,-z,now"}, []string{PIE}},
		{"lazy", append(append([]string{}, hard...), "-Wl,-z,lazy"), []string{BindNow}},
		{"norelro", append(append([]string{}, hard...), "-Wl,-z,norelro"), []string{RELRO}},
		{"nocanary", append(append([]string{}, hard...), "-fno-stack-protector"), []string{Canary}},
		{"nofortify", append(append([]string{}, hard...), "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0"), []string{Fortify}},
		{"execstack", append(append([]string{}, hard...), "-Wl,-z,execstack"), []string{NXStack}},
		{"rpath", append(append([]string{}, hard...), "-Wl,-rpath,/opt/lib", "-Wl,--disable-new-dtags"), []string{NoRPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			args := append(append([]string{}, tc.flags...), "-o", out, src)
			if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
				t.Fatalf("gcc: %v\n%s", err, b)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := Check(tc.name, f)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Failed(AllChecks)
			if !equal(got, tc.fail) {
				t.Errorf("failed checks = %v, want %v (notes %v)", got, tc.fail, r.Notes)
			}
		})
	}
}

func TestSharedObjectAndGo(t *testing.T) {
	testenv.RequireTool(t, "gcc", "go")
	dir := t.TempDir()
	src := filepath.Join(dir, "l.c")
	os.WriteFile(src, []byte("#include <string.h>\nint f(char *d, const char *s){ char b[32]; strcpy(b, s); return strlen(b) + (d[0]=b[0]); }\n"), 0o644)
	so := filepath.Join(dir, "libl.so")
	if b, err := exec.Command("gcc", "-O2", "-fPIC", "-shared", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2",
		"-Wl,-z,relro,-z,now,-z,noexecstack", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	f, _ := os.Open(so)
	defer f.Close()
	r, err := Check("libl.so", f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindShared || r.Checks[PIE] != NA || len(r.Failed(AllChecks)) != 0 {
		t.Errorf("shared object: kind %s checks %v notes %v", r.Kind, r.Checks, r.Notes)
	}

	gsrc := filepath.Join(dir, "g")
	os.MkdirAll(gsrc, 0o755)
	os.WriteFile(filepath.Join(gsrc, "go.mod"), []byte("module g\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(gsrc, "main.go"), []byte("package main\nfunc main(){ println(\"hi\") }\n"), 0o644)
	gbin := filepath.Join(dir, "gbin")
	// As distro/SPECS/keel-init builds it: static-pie through the external linker.
	cmd := exec.Command("go", "build", "-buildmode=pie", "-ldflags=-s -w -linkmode=external -extldflags '-static-pie -Wl,-z,relro,-z,now,-z,noexecstack'", "-o", gbin, ".")
	cmd.Dir = gsrc
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, b)
	}
	g, _ := os.Open(gbin)
	defer g.Close()
	r, err = Check("gbin", g)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go static-pie: kind=%s checks=%v notes=%v", r.Kind, r.Checks, r.Notes)
	if r.Lang != "go" || r.Kind != KindStaticPIE || r.Checks[Canary] != NA || len(r.Failed(AllChecks)) != 0 {
		t.Errorf("go binary: %+v", r)
	}
}

func TestNotELF(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("#!/bin/sh\n"), []byte("\x7fELF\x02\x01\x01garbage")} {
		if _, err := Check("x", bytes.NewReader(in)); err == nil {
			t.Errorf("Check(%q) accepted garbage", in)
		}
	}
}

func FuzzCheck(f *testing.F) {
	if exe, err := os.Executable(); err == nil {
		if b, err := os.ReadFile(exe); err == nil && len(b) < 64<<20 {
			f.Add(b[:min(len(b), 1<<16)])
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Check("fuzz", bytes.NewReader(data))
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
