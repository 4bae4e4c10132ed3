package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
	"github.com/keel-linux/keel/pkg/rootfs"
	"github.com/keel-linux/keel/pkg/rpm"
)

// canary is a host directory hostile packages aim at: its listing after a
// build must be what it was before.
type canary struct {
	dir  string
	want map[string]string
}

func newCanary(t *testing.T) *canary {
	t.Helper()
	c := &canary{dir: t.TempDir(), want: map[string]string{
		"secret":       "root:$6$hostsecret:19000:0:99999:7:::\n",
		"victim":       "host file\n",
		"ldconfig/aux": "host cache\n",
	}}
	for p, s := range c.want {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(c.dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// check fails t if anything under the canary changed.
func (c *canary) check(t *testing.T) {
	t.Helper()
	got := map[string]string{}
	filepath.WalkDir(c.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(c.dir, p)
		got[rel] = string(b)
		return nil
	})
	for p, s := range c.want {
		if got[p] != s {
			t.Errorf("host canary %s: %q, want %q (a build wrote or removed outside the root)", p, got[p], s)
		}
	}
	for p := range got {
		if _, ok := c.want[p]; !ok {
			t.Errorf("host canary: a build created %s outside the root", p)
		}
	}
}

func buildIn(t *testing.T, specs []resolvetest.Spec, yaml string) (string, error) {
	t.Helper()
	repo := genRepo(t, specs)
	out := t.TempDir()
	_, err := Build(context.Background(), Options{Definition: def(t, yaml), Repos: []string{repo}, Out: out, SourceDateEpoch: sde, Trusted: testKeyring()})
	return out, err
}

// TestHostileSymlinks: every step after extraction refuses (or works
// around) symlinks a package planted towards the build host; the host
// canary stays untouched and a refused build leaves no image.
func TestHostileSymlinks(t *testing.T) {
	testenv.RequireTool(t, "ldconfig")
	type testCase struct {
		name  string
		specs []resolvetest.Spec
		yaml  string
		want  string // "" = the build succeeds
	}
	sh := resolvetest.Spec{Name: "sh", Files: map[string]string{"/bin/sh": "not a shell\n"}}
	lib := map[string]string{"/usr/lib64/libx.so.1": "x", "/etc/ld.so.conf.d/x.conf": "/usr/lib64\n"}
	ldconfig := map[rpm.Tag]string{rpm.TagPostIn: "/sbin/ldconfig\n"}
	cases := func(c *canary) []testCase {
		return []testCase{
			{"rpmmanifest", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/var/lib/rpmmanifest": c.dir}}},
				"manifests: [container-manifest-2]\n", "/var/lib/rpmmanifest is a symlink (to " + c.dir + ") planted by evil-1.0-1.noarch"},
			{"rpmmanifest file", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/var/lib/rpmmanifest/container-manifest-2": c.dir + "/victim"}}},
				"manifests: [container-manifest-2]\n", "/var/lib/rpmmanifest/container-manifest-2 is a symlink"},
			{"passwd", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc/passwd": c.dir + "/secret"}}},
				"users: [{name: svc, uid: 1000}]\n", "/etc/passwd is a symlink (to " + c.dir + "/secret) planted by evil-1.0-1.noarch: refusing to read through it"},
			{"group", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc/group": c.dir + "/secret"}}},
				"groups: [{name: svc, gid: 1000}]\n", "/etc/group is a symlink"},
			{"shadow", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc/shadow": c.dir + "/victim"}}},
				"users: [{name: svc, uid: 1000}]\n", "/etc/shadow is a symlink"},
			{"etc parent", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc": c.dir}}},
				"users: [{name: svc, uid: 1000}]\n", "/etc is a symlink (to " + c.dir + ") planted by evil-1.0-1.noarch"},
			{"relative passwd", []resolvetest.Spec{{Name: "evil", Files: map[string]string{"/etc/shadow": "x"}, Links: map[string]string{"/etc/passwd": "shadow"}}},
				"users: [{name: svc, uid: 1000}]\n", "/etc/passwd is a symlink (to shadow)"},
			// remove: resolves the path as the image would (an absolute
			// target starts at the image root), so nothing on the host.
			{"remove", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/opt/x": c.dir}}},
				"remove: [/opt/x/victim]\n", ""},
			{"remove link", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/opt/x": c.dir}}},
				"remove: [/opt/x]\n", ""},
			{"scriptlet staging", []resolvetest.Spec{sh, {Name: "evil", Links: map[string]string{"/.keel-scriptlet-0": c.dir + "/victim"},
				Requires: []string{"sh"}, Scripts: map[rpm.Tag]string{rpm.TagPostIn: "echo hi\n"}}},
				"scriptlets: [sandbox]\n", "scriptlet failed"},
			{"ldconfig", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/var/cache": c.dir},
				Files: lib, Scripts: ldconfig}},
				"", ""},
			{"ldconfig etc", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc/ld.so.cache": c.dir + "/victim", "/etc/ld.so.conf": c.dir + "/secret"},
				Files: map[string]string{"/usr/lib64/libx.so.1": "x"}, Scripts: ldconfig}},
				"", ""},
			{"files parent", []resolvetest.Spec{{Name: "evil", Links: map[string]string{"/etc/motd.d": c.dir}}},
				"files: [{path: /etc/motd.d/victim, content: x}]\n", "/etc/motd.d is a symlink"},
			{"two-package chain", []resolvetest.Spec{
				{Name: "a", Links: map[string]string{"/opt/d/l": "x/../.."}},
				{Name: "b", Links: map[string]string{"/opt/d/x": "../.."}}},
				"", "symlink /opt/d/l -> x/../.. (a-1.0-1.noarch) resolves outside the root via /opt/d/x -> ../.. (b-1.0-1.noarch)"},
		}
	}
	for _, tc := range cases(&canary{dir: "/"}) {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary(t)
			for _, x := range cases(c) {
				if x.name == tc.name {
					tc = x
				}
			}
			var names []string
			for _, s := range tc.specs {
				names = append(names, s.Name)
			}
			yaml := "name: t\nkind: container\npackages: [" + strings.Join(names, ", ") + "]\noutputs: [{format: rootfs-tar}]\n" + tc.yaml
			out, err := buildIn(t, tc.specs, yaml)
			c.check(t)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("refused build left %s in the output directory", ents[0].Name())
			}
		})
	}
}

// Shapes FuzzHostileTree plants: paths Keel touches after extraction, and
// link targets towards the host canary (absolute, relative, chained).
var (
	fuzzPaths = []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc", "/var/lib/rpmmanifest",
		"/var/lib/rpmmanifest/container-manifest-2", "/var/cache", "/var/cache/ldconfig", "/opt/d/l", "/opt/d/x",
		"/opt/x", "/usr/lib/sysimage/rpm", "/usr/lib/sysimage", "/etc/ld.so.cache", "/etc/ld.so.conf", "/usr/lib64",
		"/etc/motd", "/.keel-scriptlet-0", "/tmp", "/opt/d/y"}
	fuzzTargets = []func(canary string) string{
		func(c string) string { return c },
		func(c string) string { return c + "/victim" },
		func(c string) string { return c + "/secret" },
		func(c string) string { return "../../../../../../../../.." + c },
		func(string) string { return "x/../.." },
		func(string) string { return "../.." },
		func(string) string { return ".." },
		func(string) string { return "/" },
		func(string) string { return "shadow" },
		func(string) string { return "/etc/shadow" },
		func(string) string { return "y/../../.." },
		func(string) string { return "l" },
	}
)

// fuzzSpecs turns data into up to three packages planting links, hard
// links, device nodes and FIFOs at the paths Keel touches.
func fuzzSpecs(data []byte, canary string) []resolvetest.Spec {
	var specs []resolvetest.Spec
	for i := 0; i < 3; i++ {
		specs = append(specs, resolvetest.Spec{Name: fmt.Sprintf("p%d", i), Files: map[string]string{fmt.Sprintf("/usr/share/p%d/f", i): "f\n"},
			Links: map[string]string{}, HardLinks: map[string]string{}, Special: map[string]uint32{}})
	}
	specs[0].Files["/usr/lib64/libp.so.1"] = "x"
	specs[0].Scripts = map[rpm.Tag]string{rpm.TagPostIn: "/sbin/ldconfig\n"}
	seen := map[string]bool{}
	for len(data) >= 3 && len(seen) < 8 {
		s := &specs[int(data[0])%len(specs)]
		p := fuzzPaths[int(data[1])%len(fuzzPaths)]
		shape, arg := data[0]/3%5, int(data[2])
		data = data[3:]
		if seen[p] {
			continue
		}
		seen[p] = true
		switch shape {
		case 0, 1: // a symlink
			s.Links[p] = fuzzTargets[arg%len(fuzzTargets)](canary)
		case 2: // a hard link to the package's own file
			s.HardLinks[p] = fmt.Sprintf("/usr/share/%s/f", s.Name)
		case 3: // a device node or FIFO
			s.Special[p] = []uint32{0o010644, 0o020644, 0o060644}[arg%3]
		case 4: // a regular file
			s.Files[p] = "planted\n"
		}
	}
	return specs
}

// FuzzHostileTree plants random link, hard-link, device and FIFO shapes from
// several packages: whatever the build says, the host canary is untouched,
// a refused build leaves no image, and a composed root holds no link that
// resolves outside it, no device and nothing linked to a host file.
func FuzzHostileTree(f *testing.F) {
	testenv.RequireTool(f, "ldconfig")
	for _, seed := range [][]byte{
		{0, 8, 0, 1, 9, 5}, // /opt/d/l -> x/../.. and /opt/d/x -> ../.. from two packages
		{0, 0, 1, 3, 1, 2}, // /etc/passwd and /etc/group to host files
		{0, 4, 0},          // /var/lib/rpmmanifest -> the canary
		{0, 6, 0},          // /var/cache -> the canary (ldconfig cleanup)
		{0, 10, 0},         // /opt/x -> the canary (remove:)
		{6, 0, 0, 7, 1, 0}, // hard links at /etc/passwd, /etc/group
		{9, 16, 0, 9, 18, 0},
		{0, 3, 3, 0, 11, 7, 1, 19, 10},
		{0, 17, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCanary(t)
		specs := fuzzSpecs(data, c.dir)
		repo := genRepo(t, specs)
		out := t.TempDir()
		yaml := `name: t
kind: container
packages: [p0, p1, p2]
manifests: [container-manifest-2]
users: [{name: svc, uid: 1000}]
groups: [{name: grp, gid: 1001}]
files: [{path: /etc/motd, content: "hi\n"}]
remove: [/opt/x/victim, /opt/d/l/victim, /var/cache/victim]
outputs: [{format: rootfs-tar}]
`
		res, err := Build(context.Background(), Options{Definition: def(t, yaml), Repos: []string{repo}, Out: out, SourceDateEpoch: sde, Trusted: testKeyring(), RootOnly: true})
		c.check(t)
		if err != nil {
			if strings.Contains(err.Error(), c.dir) && strings.Contains(err.Error(), "hostsecret") {
				t.Errorf("error shows a host file's content: %v", err)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("refused build (%v) left %s in the output directory", err, ents[0].Name())
			}
			return
		}
		r, err := os.OpenRoot(filepath.Join(res.Dir, "rootfs"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		esc, err := rootfs.Escapes(r)
		if err != nil || len(esc) > 0 {
			t.Errorf("composed root is not closed: %v %v", err, esc)
		}
		var host []os.FileInfo
		for p := range c.want {
			fi, _ := os.Stat(filepath.Join(c.dir, p))
			host = append(host, fi)
		}
		fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode()&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
				t.Errorf("/%s: %v in the composed root", p, fi.Mode())
			}
			for _, h := range host {
				if os.SameFile(fi, h) {
					t.Errorf("/%s is the host file %s", p, h.Name())
				}
			}
			if b, err := r.ReadFile(p); err == nil && strings.Contains(string(b), "hostsecret") {
				t.Errorf("/%s holds a host file's content", p)
			}
			return nil
		})
	})
}
