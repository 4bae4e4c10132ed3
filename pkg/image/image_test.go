package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
	"github.com/keel-linux/keel/pkg/rpm"
)

const sde = 1700000000

// genRepo writes specs as packages into a repository signed (packages and
// repomd.xml) with testKey, as keel repo publish does.
func genRepo(t *testing.T, specs []resolvetest.Spec) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "rpms")
	os.MkdirAll(src, 0o755)
	var rpms []string
	for _, s := range specs {
		p, err := resolvetest.WriteRPM(src, s)
		if err != nil {
			t.Fatal(err)
		}
		rpms = append(rpms, p)
	}
	return signedRepo(t, testKey(), rpms)
}

// testKey signs the test repositories; testKeyring is what builds trust.
var testKey = sync.OnceValue(func() *pgp.Key {
	k, err := pgp.Generate("Keel test", "test@keel.invalid", time.Unix(sde, 0))
	if err != nil {
		panic(err)
	}
	return k
})

func testKeyring() *pgp.Keyring { return testKey().Keyring() }

// signedRepo publishes rpms into a new repository signed with key.
func signedRepo(t testing.TB, key *pgp.Key, rpms []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := repo.Publish(context.Background(), repo.Options{Dir: dir, Packages: rpms, Key: key, SourceDateEpoch: sde}); err != nil {
		t.Fatal(err)
	}
	return dir
}

var baseSpecs = []resolvetest.Spec{
	{Name: "base", Files: map[string]string{"/etc/base.conf": "a=1\n", "/usr/share/base/README": "base\n"},
		Links: map[string]string{"/usr/share/base/link": "README"}},
	{Name: "app", Version: "2.0", Requires: []string{"base", "(libx or liby)", "/usr/share/base/README"},
		Files: map[string]string{"/usr/bin/app": "#!/bin/sh\necho app\n"}},
	{Name: "libx", Files: map[string]string{"/usr/lib64/libx.so.1": "x"}, Scripts: map[rpm.Tag]string{rpm.TagPostIn: "/sbin/ldconfig\n"}},
	{Name: "liby", Files: map[string]string{"/usr/lib64/liby.so.1": "y"}},
}

func def(t *testing.T, yaml string) *Definition {
	t.Helper()
	d, err := Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const containerYAML = `name: test-image
kind: container
packages: [app]
manifests: [container-manifest-2]
users: [{name: svc, uid: 1000}]
files: [{path: /etc/motd, content: "hi\n", mode: "0600"}]
container: {cmd: ["/usr/bin/app"]}
outputs: [{format: oci}, {format: docker-archive}, {format: rootfs-tar}]
`

// TestBuildReproducible builds the same image twice and compares bytes,
// then checks the rpm database with the real rpm.
func TestBuildReproducible(t *testing.T) {
	testenv.RequireTool(t, "ldconfig")
	repo := genRepo(t, baseSpecs)
	var mans [][]byte
	var dirs []string
	for i := 0; i < 2; i++ {
		out := t.TempDir()
		res, err := Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{repo}, Out: out, SourceDateEpoch: sde, Trusted: testKeyring()})
		if err != nil {
			t.Fatal(err)
		}
		m, err := os.ReadFile(filepath.Join(res.Dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		mans = append(mans, m)
		dirs = append(dirs, res.Dir)
		var names []string
		for _, p := range res.Manifest.Packages {
			names = append(names, p.Name)
		}
		if got := strings.Join(names, " "); got != "app base libx" {
			t.Errorf("packages %q, want app base libx", got)
		}
		ents, _ := os.ReadDir(out)
		if len(ents) != 1 {
			t.Errorf("output dir has %d entries, want only the image", len(ents))
		}
	}
	if !bytes.Equal(mans[0], mans[1]) {
		t.Errorf("manifests differ:\n%s\n%s", mans[0], mans[1])
	}
	for _, f := range []string{"test-image.docker.tar", "test-image.rootfs.tar", "oci/index.json"} {
		a, _ := os.ReadFile(filepath.Join(dirs[0], f))
		b, _ := os.ReadFile(filepath.Join(dirs[1], f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s not reproducible (%d/%d bytes)", f, len(a), len(b))
		}
	}
	for _, want := range []string{`"name": "app"`, `"epoch": 0`, `"source": "app"`, `"sha256": "`, `"format": "oci"`, `"digest": "sha256:`} {
		if !bytes.Contains(mans[0], []byte(want)) {
			t.Errorf("manifest lacks %s", want)
		}
	}
}

// TestRootRPMDB composes a root only and asks rpm about it.
func TestRootRPMDB(t *testing.T) {
	testenv.RequireTool(t, "rpm", "ldconfig")
	repo := genRepo(t, baseSpecs)
	out := t.TempDir()
	res, err := Build(context.Background(), Options{Definition: def(t, containerYAML), Repos: []string{repo}, Out: out, SourceDateEpoch: sde, Trusted: testKeyring(), RootOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(res.Dir, "rootfs")
	q := func(args ...string) string {
		out, err := exec.Command("rpm", append([]string{"--root", root, "--dbpath", "/usr/lib/sysimage/rpm"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := strings.Fields(q("-qa", "--qf", "%{NAME}\n")); len(got) != 3 {
		t.Errorf("rpm -qa: %v", got)
	}
	if v := q("-Va"); strings.TrimSpace(v) != "" {
		t.Errorf("rpm -Va:\n%s", v)
	}
	for _, bad := range []string{"usr/lib/sysimage/rpm/rpmdb.sqlite-wal", "usr/lib/sysimage/rpm/rpmdb.sqlite-shm", "var/cache/ldconfig", "var/cache/dnf", ".keel-scriptlet-0"} {
		if _, err := os.Lstat(filepath.Join(root, bad)); err == nil {
			t.Errorf("residue %s in the image", bad)
		}
	}
	pw, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(pw), "svc:x:1000:1000::/home/svc:/sbin/nologin") {
		t.Errorf("/etc/passwd: %q", pw)
	}
	cm, _ := os.ReadFile(filepath.Join(root, "var/lib/rpmmanifest/container-manifest-2"))
	if !strings.HasPrefix(string(cm), "app\t2.0-1\t") || strings.Count(string(cm), "\n") != 3 {
		t.Errorf("container-manifest-2: %q", cm)
	}
}

// TestBadInput: every failure is a clear error and leaves no image.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []resolvetest.Spec
		yaml  string
		want  string
	}{
		{"unknown package", baseSpecs, "name: t\nkind: container\npackages: [nosuch]\noutputs: [{format: oci}]\n", "request nosuch: no package matches it"},
		{"missing dependency", []resolvetest.Spec{{Name: "hello", Requires: []string{"libc.so.6(GLIBC_2.34)(64bit)"}}},
			"name: t\nkind: container\npackages: [hello]\noutputs: [{format: oci}]\n", "hello requires libc.so.6(GLIBC_2.34)(64bit): nothing provides it"},
		{"file conflict", []resolvetest.Spec{
			{Name: "a", Files: map[string]string{"/etc/x": "a"}}, {Name: "b", Files: map[string]string{"/etc/x": "b"}}},
			"name: t\nkind: container\npackages: [a, b]\noutputs: [{format: oci}]\n", "file /etc/x conflicts between a-1.0-1.noarch and b-1.0-1.noarch"},
		{"hostile package", []resolvetest.Spec{{Name: "evil", Files: map[string]string{"/../../../tmp/keel-evil": "x"}}},
			"name: t\nkind: container\npackages: [evil]\noutputs: [{format: oci}]\n", "evil"},
		{"hostile package among others", []resolvetest.Spec{
			{Name: "evil", Files: map[string]string{"/../../../tmp/keel-evil2": "x"}},
			{Name: "a", Files: map[string]string{"/usr/share/a/x": "a"}}, {Name: "b", Files: map[string]string{"/usr/share/b/x": "b"}}},
			"name: t\nkind: container\npackages: [a, b, evil]\noutputs: [{format: oci}]\n", "evil"},
		{"unknown scriptlet", []resolvetest.Spec{{Name: "s", Scripts: map[rpm.Tag]string{rpm.TagPostIn: "useradd foo\n"}}},
			"name: t\nkind: container\npackages: [s]\noutputs: [{format: oci}]\n", "s-1.0-1.noarch has a %post scriptlet (useradd foo) keel has no built-in for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := genRepo(t, tc.specs)
			out := t.TempDir()
			_, err := Build(context.Background(), Options{Definition: def(t, tc.yaml), Repos: []string{repo}, Out: out, SourceDateEpoch: sde, Trusted: testKeyring()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			ents, _ := os.ReadDir(out)
			if len(ents) != 0 {
				t.Errorf("left %v in the output directory", ents[0].Name())
			}
		})
	}
	if _, err := os.Stat("/tmp/keel-evil2"); err == nil {
		t.Error("hostile package wrote outside the root")
	}
	if _, err := os.Stat("/tmp/keel-evil"); err == nil {
		t.Error("hostile package wrote outside the root")
	}
}

func TestParseErrors(t *testing.T) {
	const head = "name: t\nkind: container\npackages: [a]\noutputs: [{format: oci}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "bogus: 1\n", "test.yaml:5: unknown key `bogus` at the top level (known: arch, assume_provided, container,"},
		{"name: t\nkind: container\npakages: [a]\noutputs: [{format: oci}]\n", "test.yaml:3: unknown key `pakages` at the top level (known: "},
		{"name: t\nkind: container\npakages: [a]\noutputs: [{format: oci}]\n", "; did you mean `packages`?"},
		{head + "container: {entrypont: [x]}\n", "test.yaml:5: unknown key `entrypont` in `container` (known: cmd, entrypoint, env, labels, user, workdir); did you mean `entrypoint`?"},
		{head + "users: [{name: u, uid: abc}]\n", "test.yaml:5: field `users[0].uid`: expected an integer, got \"abc\""},
		{head + "rpmdb: maybe\n", "test.yaml:5: field `rpmdb`: expected true or false, got \"maybe\""},
		{"name: t\nkind: vm\npackages: [a]\noutputs: [{format: oci}]\n", "test.yaml:2: kind: \"vm\": want container or bootable"},
		{"name: t\nkind: container\npackages: [a]\noutputs: [{format: qcow2}]\n", "test.yaml:4: outputs[0].format: \"qcow2\" is a bootable format"},
		{"name: t\nkind: container\npackages: a\n", "test.yaml:3: field `packages`: expected a list, got \"a\""},
		{"name: t\nkind: container\npackages: [a]\nfiles: [{path: ../x, content: y}]\noutputs: [{format: oci}]\n", "test.yaml:4: files[0].path"},
		{"name: [\n", "test.yaml:1: "},
		// users[]/groups[]: what /etc/passwd and /etc/group can hold.
		{head + "users:\n  - {name: u, uid: 1}\n  - {name: v, uid: 2, shell: \"/bin/sh\\nroot2::0:0::/:/bin/sh\"}\n", "test.yaml:7: users[1].shell: \"/bin/sh\\nroot2::0:0::/:/bin/sh\": no ':' or control characters"},
		{head + "users: [{name: u, uid: 1, home: \"/home/u:x\"}]\n", "users[0].home: \"/home/u:x\": no ':'"},
		{head + "users: [{name: u, uid: 1, home: home/u}]\n", "users[0].home: \"home/u\": want a clean absolute path"},
		{head + "users: [{name: u, uid: 1, shell: /bin/../sh}]\n", "users[0].shell: \"/bin/../sh\": want a clean absolute path"},
		{head + "users: [{name: Root, uid: 1}]\n", "users[0].name: \"Root\": want a user name useradd accepts"},
		{head + "users: [{name: 1u, uid: 1}]\n", "users[0].name"},
		{head + "users: [{name: u, uid: 4294967295}]\n", "users[0].uid: 4294967295: want 0 to 4294967294"},
		{head + "users: [{name: u, uid: -1}]\n", "users[0].uid"},
		{head + "users: [{name: u, uid: 1}, {name: u, uid: 2}]\n", "users[1].name: \"u\" listed twice"},
		{head + "users: [{name: u, uid: 1, groups: [\"a:b\"]}]\n", "users[0].groups[0]"},
		{head + "groups: [{name: \"g\\n\", gid: 1}]\n", "groups[0].name"},
		{head + "groups: [{name: g, gid: 99999999999}]\n", "groups[0].gid"},
		// Keys that would do nothing are refused until implemented.
		{head + "services: [sshd]\n", "test.yaml:5: field `services[0]`: expected a mapping"},
		{head + "sysctl: {kernel.kptr_restrict: \"2\"}\n", "test.yaml:5: sysctl: only a bootable image"},
		{head + "selinux: enforcing\n", "test.yaml:5: selinux: \"enforcing\": only a bootable image loads a policy"},
		{head + "selinux: strict\n", "test.yaml:5: selinux: \"strict\": want disabled, permissive or enforcing"},
	} {
		_, err := Parse("test.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestShellNewlineAddsNoPasswdLine: a definition built in Go (not parsed)
// with a newline in shell must not add a line to /etc/passwd.
func TestShellNewlineAddsNoPasswdLine(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	d := &Definition{Users: []User{{Name: "app", UID: 1000, Shell: "/bin/sh\nevil::0:0::/:/bin/sh"}}}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = applyAccounts(d, r, owners{})
	if err == nil || !strings.Contains(err.Error(), "users[0].shell") {
		t.Fatalf("err = %v, want a users[0].shell error", err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("/etc/passwd changed: %q", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(containerYAML))
	f.Add([]byte("name: x\nkind: bootable\nkernel: {package: kernel}\npackages: [a]\npartitions: [{label: r, type: root}]\noutputs: [{format: raw}]\n"))
	f.Add([]byte("name: t\nkind: container\npackages: [a]\noutputs: [{format: oci}]\nusers: [{name: u, uid: x, shell: \"a\\nb\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err != nil {
			for _, internal := range []string{"strconv.", "in type ", "image.", "!!"} {
				if strings.Contains(err.Error(), internal) {
					t.Fatalf("decoder-internal text %q in %q", internal, err)
				}
			}
			return
		}
		for _, u := range d.Users {
			if strings.ContainsAny(u.Name+u.Home+u.Shell+u.Group+strings.Join(u.Groups, ""), ":\n") {
				t.Fatalf("accepted a passwd-breaking user %+v", u)
			}
		}
	})
}
