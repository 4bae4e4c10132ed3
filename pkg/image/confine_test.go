package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/resolve/resolvetest"
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
	_, err := Build(context.Background(), Options{Definition: def(t, yaml), Repos: []string{repo}, Out: out, SourceDateEpoch: sde})
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
