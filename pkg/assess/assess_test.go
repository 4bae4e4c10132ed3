package assess

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testdistro"
	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/image"
	"github.com/keel-linux/keel/pkg/oci"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/repo"
)

var created = time.Unix(1700000000, 0).UTC()

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func write(t testing.TB, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// writeImage writes root as a container image directory (oci/ and
// manifest.json, as keel image build lays it out): a base for OpenBase.
func writeImage(t testing.TB, root, dir, name string, cfg oci.Config) {
	t.Helper()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img, _, err := oci.Image(r, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.WriteLayout(filepath.Join(dir, "oci"), img, "latest"); err != nil {
		t.Fatal(err)
	}
	m := image.Manifest{Image: name, Arch: "x86_64", Outputs: []image.OutputInfo{{Format: "oci", Path: "oci"}}}
	data, _ := json.Marshal(m)
	write(t, filepath.Join(dir, "manifest.json"), string(data), 0o644)
}

// hostBase is a base made of this Debian host's glibc (2.36, as Keel
// Linux's), laid out as Keel's container-core is: multiarch libraries,
// lib64 -> usr/lib64 holding the interpreter's link, no ld.so.cache.
func hostBase(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	ma := filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	if err := os.MkdirAll(ma, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"libc.so.6", "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libm.so.6"} {
		data, err := os.ReadFile(filepath.Join("/usr/lib/x86_64-linux-gnu", l))
		if err != nil {
			testenv.Missing(t, "host glibc: %v", err)
		}
		write(t, filepath.Join(ma, l), string(data), 0o755)
	}
	sh, err := os.ReadFile("/bin/dash")
	if err != nil {
		testenv.Missing(t, "host dash: %v", err)
	}
	write(t, filepath.Join(root, "usr/bin/sh"), string(sh), 0o755)
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	write(t, filepath.Join(root, "etc/group"), "root:x:0:\n", 0o644)
	os.MkdirAll(filepath.Join(root, "usr/lib64"), 0o755)
	for l, target := range map[string]string{"lib64": "usr/lib64", "lib": "usr/lib", "bin": "usr/bin",
		"usr/lib64/ld-linux-x86-64.so.2": "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "images", "hostbase")
	writeImage(t, root, dir, "hostbase", oci.Config{Arch: "x86_64", Created: created})
	return dir
}

// workload builds the test's workloads with the host's gcc: each case of
// the brief, and the loader's path cases. want lists the breaks ours must
// report on every base (file -> "kind need" entries); the real loader is
// the judge of the soname and version ones.
func workload(t testing.TB) string {
	t.Helper()
	testenv.RequireTool(t, "gcc")
	w := filepath.Join(t.TempDir(), "workload")
	src := t.TempDir()
	write(t, filepath.Join(src, "hello.c"), "#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n", 0o644)
	// A stub libc.so.6 defining GLIBC_2.38 (over the versions a program's
	// start files need): linked against it alone, a program needs what a
	// binary built on a newer glibc needs.
	write(t, filepath.Join(src, "stub.c"), "int keel_new(void){return 0;}\nint puts(const char *s){return 0;}\nint __libc_start_main(void){return 0;}\n", 0o644)
	write(t, filepath.Join(src, "glibc.map"), "GLIBC_2.2.5 { global: puts; local: *; };\nGLIBC_2.34 { global: __libc_start_main; } GLIBC_2.2.5;\nGLIBC_2.38 { global: keel_new; } GLIBC_2.34;\n", 0o644)
	write(t, filepath.Join(src, "new238.c"), "#include <stdio.h>\nint keel_new(void);\nint main(void){puts(\"new\");return keel_new();}\n", 0o644)
	write(t, filepath.Join(src, "gcc.map"), "GCC_14.0.0 { global: keel_new; local: *; };\n", 0o644)
	write(t, filepath.Join(src, "new.c"), "#include <stdio.h>\nint keel_new(void);\nint main(void){printf(\"%d\\n\",keel_new());return 0;}\n", 0o644)
	write(t, filepath.Join(src, "z.c"), "#include <zlib.h>\n#include <stdio.h>\nint main(void){puts(zlibVersion());return 0;}\n", 0o644)
	write(t, filepath.Join(src, "two.c"), "int two(void){return 2;}\n", 0o644)
	write(t, filepath.Join(src, "one.c"), "int two(void);\nint one(void){return two();}\n", 0o644)
	write(t, filepath.Join(src, "useone.c"), "int one(void);\nint main(void){return one()-2;}\n", 0o644)
	write(t, filepath.Join(src, "conf.c"), "int conf(void){return 0;}\n", 0o644)
	write(t, filepath.Join(src, "useconf.c"), "int conf(void);\nint main(void){return conf();}\n", 0o644)
	gcc := func(args ...string) { run(t, src, "gcc", append([]string{"-O1", "-o"}, args...)...) }
	os.MkdirAll(filepath.Join(w, "app/bin"), 0o755)
	os.MkdirAll(filepath.Join(w, "app/lib"), 0o755)
	os.MkdirAll(filepath.Join(w, "opt/conf"), 0o755)
	os.MkdirAll(filepath.Join(src, "stubc"), 0o755)
	os.MkdirAll(filepath.Join(src, "stubgcc"), 0o755)
	gcc("stubc/libc.so.6", "-shared", "-fPIC", "stub.c", "-Wl,--version-script=glibc.map", "-Wl,-soname,libc.so.6", "-nostdlib")
	gcc("stubgcc/libgcc_s.so.1", "-shared", "-fPIC", "stub.c", "-Wl,--version-script=gcc.map", "-Wl,-soname,libgcc_s.so.1", "-nostdlib")
	gcc(filepath.Join(w, "app/bin/clean"), "hello.c")
	gcc(filepath.Join(w, "app/bin/glibc238"), "new238.c", "-nodefaultlibs", "stubc/libc.so.6")
	gcc(filepath.Join(w, "app/bin/gcc14"), "new.c", "stubgcc/libgcc_s.so.1")
	gcc(filepath.Join(w, "app/bin/zlib"), "z.c", "-lz")
	gcc(filepath.Join(w, "app/bin/static"), "-static", "hello.c")
	gcc(filepath.Join(w, "app/lib/libtwo.so"), "-shared", "-fPIC", "two.c", "-Wl,-soname,libtwo.so")
	gcc(filepath.Join(w, "app/lib/libone.so"), "-shared", "-fPIC", "one.c", "-Wl,-soname,libone.so", "-L"+filepath.Join(w, "app/lib"), "-ltwo")
	// RUNPATH serves the program's own needs only: libone's libtwo is not found.
	gcc(filepath.Join(w, "app/bin/runpath"), "useone.c", "-L"+filepath.Join(w, "app/lib"), "-lone", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
	// RPATH is inherited: libone's libtwo is found through the program's.
	gcc(filepath.Join(w, "app/bin/rpath"), "useone.c", "-L"+filepath.Join(w, "app/lib"), "-lone", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib")
	// ld.so.conf: found only through ld.so.cache (the test generates one per base).
	gcc(filepath.Join(w, "opt/conf/libconf.so"), "-shared", "-fPIC", "conf.c", "-Wl,-soname,libconf.so")
	gcc(filepath.Join(w, "app/bin/conf"), "useconf.c", "-L"+filepath.Join(w, "opt/conf"), "-lconf")
	write(t, filepath.Join(w, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n", 0o644)
	write(t, filepath.Join(w, "etc/ld.so.conf.d/opt.conf"), "# the workload's libraries\n/opt/conf\n", 0o644)
	// A workload built on this Debian host: its tools, without their libraries.
	for _, p := range []string{"/usr/bin/curl", "/usr/bin/python3", "/usr/bin/bwrap", "/usr/bin/gpg"} {
		if data, err := os.ReadFile(p); err == nil {
			write(t, filepath.Join(w, "debian", path.Base(p)), string(data), 0o755)
		}
	}
	write(t, filepath.Join(w, "app/bin/tool.py"), "#!/usr/bin/python3\nprint('hi')\n", 0o755)
	write(t, filepath.Join(w, "app/bin/ok.sh"), "#!/bin/sh\necho ok\n", 0o755)
	write(t, filepath.Join(w, "app/share/notes.py"), "#!/usr/bin/python3\n", 0o644) // not executable: never run
	// A corrupt ELF: a warning, never a crash; and one for another machine.
	write(t, filepath.Join(w, "app/bin/corrupt"), "\x7fELF\x02\x01\x01\x00garbage", 0o755)
	arm, err := os.ReadFile(filepath.Join(w, "app/bin/clean"))
	if err != nil {
		t.Fatal(err)
	}
	arm[18], arm[19] = 183, 0 // e_machine = EM_AARCH64
	write(t, filepath.Join(w, "app/bin/arm"), string(arm), 0o755)
	return w
}

// wantBreaks are the breaks every base must show for the workload, beside
// whatever the Debian tools lack (judged by the real loader).
var wantBreaks = []string{
	"/app/bin/arm arch",
	"/app/bin/gcc14 symbol-version GCC_14.0.0 (libgcc_s.so.1)",
	"/app/bin/glibc238 symbol-version GLIBC_2.38 (libc.so.6)",
	"/app/bin/runpath soname libtwo.so",
	"/app/bin/tool.py shebang /usr/bin/python3",
	"/app/bin/zlib soname libz.so.1",
	"/app/lib/libone.so soname libtwo.so", // alone, without the program's RPATH
}

// withCache returns a copy of workload w with the ld.so.cache ldconfig
// writes for w stacked on the base root (extracted to merged by the test).
func withCache(t testing.TB, w, merged string) string {
	t.Helper()
	run(t, "", "ldconfig", "-X", "-r", merged)
	wc := filepath.Join(t.TempDir(), "workload")
	run(t, "", "cp", "-a", w+"/.", wc)
	data, err := os.ReadFile(filepath.Join(merged, "etc/ld.so.cache"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(wc, "etc/ld.so.cache"), string(data), 0o644)
	return wc
}

// extract unpacks the base image's layers with tar (the test's own
// trusted base, independent of the tree under test), then the workload.
func extract(t testing.TB, baseDir, w string) string {
	t.Helper()
	img, err := oci.Open(filepath.Join(baseDir, "oci"), "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	os.MkdirAll(merged, 0o755)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("tar", "-x", "-C", merged)
		cmd.Stdin = rc
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, out)
		}
		rc.Close()
	}
	if w != "" {
		run(t, "", "cp", "-a", w+"/.", merged)
	}
	return merged
}

var (
	notFound   = regexp.MustCompile(`(?m)^\s+(\S+) => not found$`)
	versionErr = regexp.MustCompile("(?m): (/\\S+): version `([^']+)' not found \\(required by")
)

// realLoader is what the root's own ld.so reports for each of paths in
// ldd's trace mode (LD_TRACE_LOADED_OBJECTS=1: glibc 2.36's --list stops
// at the first missing library), run by the root's sh in one bubblewrap
// sandbox whose / is the root: "soname NAME" and "symbol-version V (LIB)"
// entries per path.
func realLoader(t testing.TB, root string, paths []string) map[string][]string {
	t.Helper()
	script := `for f; do echo "==keel== $f"; LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 "$f" 2>&1; done`
	cmd := exec.Command("bwrap", append([]string{"--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all",
		"--die-with-parent", "--clearenv", "--", "/bin/sh", "-c", script, "sh"}, paths...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ld.so in %s: %v\n%s", root, err, out.String())
	}
	res := map[string][]string{}
	for _, part := range strings.Split(out.String(), "==keel== ")[1:] {
		p, text, _ := strings.Cut(part, "\n")
		var got []string
		for _, m := range notFound.FindAllStringSubmatch(text, -1) {
			got = append(got, "soname "+m[1])
		}
		for _, m := range versionErr.FindAllStringSubmatch(text, -1) {
			got = append(got, "symbol-version "+m[2]+" ("+path.Base(m[1])+")")
		}
		res[p] = uniq(got)
	}
	if len(res) != len(paths) {
		t.Fatalf("ld.so listed %d of %d files:\n%s", len(res), len(paths), out.String())
	}
	return res
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// loaderBreaks are our report's soname and version breaks of file p.
func loaderBreaks(rep *Report, p string) []string {
	var got []string
	for _, b := range rep.Breaks {
		if b.File == p && (b.Kind == KindSoname || b.Kind == KindVersion) {
			got = append(got, b.Kind+" "+b.Need)
		}
	}
	return uniq(got)
}

func breakSet(rep *Report) map[string]Break {
	m := map[string]Break{}
	for _, b := range rep.Breaks {
		k := b.File + " " + b.Kind
		if b.Kind != KindArch {
			k += " " + b.Need
		}
		m[k] = b
	}
	return m
}

// compareWithLoader checks every dynamic ELF file the report assessed
// against the real loader in merged.
func compareWithLoader(t *testing.T, rep *Report, merged string, files []string) {
	t.Helper()
	n := 0
	real := realLoader(t, merged, files)
	for _, p := range files {
		want := real[p]
		if got := loaderBreaks(rep, p); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: keel assess reports %q, the base's ld.so --list %q", p, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no ELF file compared with the real loader")
	}
	t.Logf("%d ELF files agree with ld.so --list", n)
}

// dynamicELFs are the workload's ELF files the real loader can list:
// neither static, corrupt nor foreign.
func dynamicELFs(t testing.TB, w string) []string {
	var out []string
	filepath.WalkDir(w, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel := "/" + strings.TrimPrefix(p, w+"/")
		switch path.Base(rel) {
		case "static", "corrupt", "arm":
			return nil
		}
		if data, err := os.ReadFile(p); err == nil && len(data) > 4 && string(data[:4]) == "\x7fELF" {
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// checkWorkload assesses workload w (a directory, an OCI layout and a
// docker-archive of it) on the base at baseDir and compares every ELF with
// the real loader.
func checkWorkload(t *testing.T, base *Base, baseDir, w string) {
	t.Helper()
	testenv.RequireTool(t, "bwrap", "ldconfig", "tar")
	ctx := context.Background()
	merged := extract(t, baseDir, w)
	wc := withCache(t, w, merged)

	im, err := OpenImage(ctx, wc, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	rep := Check(ctx, base, im)
	got := breakSet(rep)
	for _, k := range wantBreaks {
		if _, ok := got[k]; !ok {
			t.Errorf("no break %q in %+v", k, rep.Breaks)
		}
	}
	for _, k := range []string{"/app/bin/clean", "/app/bin/static", "/app/bin/rpath", "/app/bin/conf", "/app/bin/ok.sh", "/app/share/notes.py"} {
		for b := range got {
			if strings.HasPrefix(b, k+" ") {
				t.Errorf("%s: unexpected break %q", k, b)
			}
		}
	}
	if b := got["/app/bin/glibc238 symbol-version GLIBC_2.38 (libc.so.6)"]; !strings.Contains(b.Detail, "its newest is GLIBC_2.3") {
		t.Errorf("GLIBC_2.38 break without the newest version defined: %+v", b)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].File != "/app/bin/corrupt" {
		t.Errorf("warnings %+v, want the corrupt ELF", rep.Warnings)
	}
	if rep.Static != 1 {
		t.Errorf("%d static, want 1", rep.Static)
	}
	compareWithLoader(t, rep, merged, dynamicELFs(t, w))

	// Without the cache, ld.so.conf's directories are not searched, by us or ld.so.
	im2, err := OpenImage(ctx, w, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	rep2 := Check(ctx, base, im2)
	if _, ok := breakSet(rep2)["/app/bin/conf soname libconf.so"]; !ok {
		t.Errorf("no ld.so.cache: libconf.so found anyway: %+v", rep2.Breaks)
	}
	compareWithLoader(t, rep2, extract(t, baseDir, w), []string{"/app/bin/conf"})

	// The same workload as an image: ENTRYPOINT and USER checked too.
	root := filepath.Join(t.TempDir(), "img")
	run(t, "", "cp", "-a", wc+"/.", root)
	imgDir := filepath.Join(t.TempDir(), "wimg")
	writeImage(t, root, imgDir, "w", oci.Config{Arch: "x86_64", Created: created, Entrypoint: []string{"/app/bin/missing"},
		Cmd: []string{"x"}, User: "app:staff"})
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := oci.Image(r, oci.Config{Arch: "x86_64", Created: created, Cmd: []string{"clean"},
		Env: []string{"PATH=/app/bin"}, User: "0:0"}, true)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "w.tar")
	if err := oci.WriteDockerArchive(archive, img, "keel-test/w:latest"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src    string
		config []string
	}{
		{filepath.Join(imgDir, "oci"), []string{"image config entrypoint /app/bin/missing", "image config user user app", "image config user group staff"}},
		{archive, nil},
	} {
		im, err := OpenImage(ctx, c.src, "x86_64")
		if err != nil {
			t.Fatal(err)
		}
		r := Check(ctx, base, im)
		bs := breakSet(r)
		for _, k := range append(append([]string{}, wantBreaks...), c.config...) {
			if _, ok := bs[k]; !ok {
				t.Errorf("%s: no break %q in %+v", c.src, k, r.Breaks)
			}
		}
		var cfg int
		for k := range bs {
			if strings.HasPrefix(k, "image config") {
				cfg++
			}
		}
		if cfg != len(c.config) {
			t.Errorf("%s: %d config breaks, want %v: %+v", c.src, cfg, c.config, r.Breaks)
		}
		if got, want := loaderBreaks(r, "/app/bin/conf"), loaderBreaks(rep, "/app/bin/conf"); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: /app/bin/conf %v, the directory %v", c.src, got, want)
		}
	}
}

func TestWorkloadHostBase(t *testing.T) {
	baseDir := hostBase(t)
	base, err := OpenBase(context.Background(), filepath.Join(baseDir, "manifest.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	checkWorkload(t, base, baseDir, workload(t))
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	baseDir := hostBase(t)
	for _, c := range []struct{ name, base, image, want string }{
		{"missing release", filepath.Join(t.TempDir(), "nope"), baseDir, "no such file"},
		{"not a release", t.TempDir(), baseDir, "not a release or image directory"},
		{"other image name", baseDir, baseDir, "is image hostbase, not distroless"},
		{"not an image", baseDir, filepath.Join(baseDir, "manifest.json"), "not an OCI image layout or docker-archive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bi := ""
			if c.name == "other image name" {
				bi = "distroless"
			}
			_, err := Workload(ctx, c.base, bi, c.image)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	t.Run("other architecture", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "x"), "x", 0o644)
		dir := filepath.Join(t.TempDir(), "arm")
		writeImage(t, root, dir, "arm", oci.Config{Arch: "aarch64", Created: created})
		_, err := Workload(ctx, baseDir, "", filepath.Join(dir, "oci"))
		if err == nil || !strings.Contains(err.Error(), "linux/arm64") {
			t.Errorf("error %v, want one naming linux/arm64", err)
		}
	})
}

func newTarWriter(w io.Writer) func(string) {
	tw := tar.NewWriter(w)
	return func(name string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: 4, Typeflag: tar.TypeReg})
		tw.Write([]byte("\x7fELF"))
		tw.Flush()
	}
}

// FuzzLayer feeds hostile layer tars to the in-memory tree: never a panic,
// never a path outside the root.
func FuzzLayer(f *testing.F) {
	var buf bytes.Buffer
	for _, names := range [][]string{{"a", "b/c"}, {"../../etc/passwd"}, {".wh..wh..opq"}} {
		buf.Reset()
		tw := newTarWriter(&buf)
		for _, n := range names {
			tw(n)
		}
		f.Add(append([]byte(nil), buf.Bytes()...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTree()
		_ = tr.addTar(bytes.NewReader(data), "workload")
		for k := range tr.nodes {
			if strings.HasPrefix(k, "/") || strings.HasPrefix(k, "..") {
				t.Fatalf("path %q escapes the root", k)
			}
			tr.object("/" + k)
		}
	})
}

// keelRelease is a release directory holding the real Keel Linux
// container-core image and a repository of the packages it and the
// workloads' providers come from (zlib), as keel release cut lays it out.
func keelRelease(t *testing.T) string {
	t.Helper()
	want := map[string]bool{"filesystem": true, "keel-release": true, "glibc": true, "libgcc": true, "busybox": true, "zlib": true}
	var rpms []string
	for _, p := range testdistro.RPMs(t) {
		n := filepath.Base(p)
		if i := strings.LastIndexByte(strings.TrimSuffix(n, ".rpm"), '-'); i > 0 {
			if j := strings.LastIndexByte(n[:i], '-'); j > 0 && want[n[:j]] {
				rpms = append(rpms, p)
			}
		}
	}
	key, err := pgp.Generate("Keel test", "test@keel.invalid", created)
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(t.TempDir(), "1.0.20261207")
	ctx := context.Background()
	if _, err := repo.Publish(ctx, repo.Options{Dir: filepath.Join(rel, manifest.RepoDir), Packages: rpms, Key: key, SourceDateEpoch: created.Unix()}); err != nil {
		t.Fatal(err)
	}
	def, err := image.Load(filepath.Join(testenv.RepoRoot(), "distro", "images"), "container-core")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.Build(ctx, image.Options{Definition: def, Repos: []string{filepath.Join(rel, manifest.RepoDir)},
		Out: filepath.Join(rel, "images"), SourceDateEpoch: created.Unix(), Trusted: key.Keyring()}); err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Distro: "keel", Version: "1.0.20261207", Sources: []manifest.SourcePackage{},
		Images: []manifest.ImageSummary{{Name: "container-core", Format: "container", File: "images/container-core/manifest.json"}}}
	data, _ := json.Marshal(m)
	write(t, filepath.Join(rel, manifest.ManifestFile), string(data), 0o644)
	return rel
}

// TestWorkloadKeelBase assesses the workloads on Keel Linux's own
// container-core from a release directory, and every ELF file of that
// image's root against its own loader.
func TestWorkloadKeelBase(t *testing.T) {
	rel := keelRelease(t)
	ctx := context.Background()
	base, err := OpenBase(ctx, rel, "")
	if err != nil {
		t.Fatal(err)
	}
	baseDir := filepath.Join(rel, "images", "container-core")
	w := workload(t)
	checkWorkload(t, base, baseDir, w)

	im, err := OpenImage(ctx, w, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	bs := breakSet(Check(ctx, base, im))
	if b := bs["/app/bin/zlib soname libz.so.1"]; b.Why != WhyMissingPackage || b.Package != "zlib" {
		t.Errorf("libz.so.1: %+v, want a missing package zlib", b)
	}
	if b := bs["/debian/curl soname libcurl.so.4"]; b.Why != WhyMissingSoname {
		t.Errorf("libcurl.so.4: %+v, want a missing soname", b)
	}

	// The image's own root: every ELF file loads as its ld.so says.
	merged := extract(t, baseDir, "")
	ld := loader(base.root, "x86_64")
	ours := map[string][]string{}
	for rel, node := range base.root.nodes {
		if !node.isELF() {
			continue
		}
		obj, real, err := base.root.object("/" + rel)
		if err != nil || obj.Static() || obj.Type != elf.ET_DYN && obj.Type != elf.ET_EXEC {
			continue
		}
		var got []string
		res := ld.Load(real, obj)
		for _, m := range res.Missing {
			got = append(got, "soname "+m.Name)
		}
		for _, v := range res.Versions {
			got = append(got, "symbol-version "+v.Version+" ("+path.Base(v.Path)+")")
		}
		ours["/"+rel] = uniq(got)
	}
	var files []string
	for p := range ours {
		files = append(files, p)
	}
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("only %d ELF files in container-core", len(files))
	}
	real := realLoader(t, merged, files)
	for _, p := range files {
		if strings.Join(ours[p], ",") != strings.Join(real[p], ",") {
			t.Errorf("%s: keel %v, ld.so %v", p, ours[p], real[p])
		}
	}
	t.Logf("%d ELF files of container-core agree with its ld.so", len(files))

	// A workload FROM container-core: the base's own files are the base's.
	im2, err := OpenImage(ctx, filepath.Join(baseDir, "oci"), "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	r := Check(ctx, base, im2)
	if !r.OK() || r.Replaced == 0 || r.ELF != 0 {
		t.Errorf("container-core on itself: %d breaks, %d replaced, %d ELF assessed: %+v", len(r.Breaks), r.Replaced, r.ELF, r.Breaks)
	}
}
