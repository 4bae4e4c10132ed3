package srctree

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specText is a test-written spec: name, version, release, extra preamble
// lines, subpackages and changelog text.
func specText(name, version, release, preamble string, subs []string, changelog string) string {
	var b strings.Builder
	b.WriteString("Name: " + name + "\nVersion: " + version + "\nRelease: " + release + "%{?dist}\nSummary: test\nLicense: MIT\n")
	b.WriteString(preamble)
	b.WriteString("\n%description\nTest.\n")
	for _, s := range subs {
		b.WriteString("\n%package " + s + "\nSummary: sub\n%description " + s + "\nSub.\n")
	}
	b.WriteString("\n%prep\n%build\nmake %{?_smp_mflags} %(nproc)\n%install\n%files\n")
	b.WriteString("\n%changelog\n* Mon Jan 05 2026 Test <t@example.invalid> - " + version + "-" + release + "\n- " + changelog + "\n")
	return b.String()
}

type file struct{ path, text string }

func writeTree(t *testing.T, files ...file) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCompareTrees(t *testing.T) {
	macros := file{"SPECS/acme-rpm-macros/macros", "%acme_major 1\n"}
	oldTree := writeTree(t, macros,
		file{"SPECS/acme-rpm-macros/acme-rpm-macros.spec", specText("acme-rpm-macros", "1", "1", "", nil, "first")},
		file{"SPECS/zlib/zlib.spec", specText("zlib", "1.2.13", "1", "Patch0: CVE-2023-45853.patch\nPatch1: build-fix.patch\n", []string{"devel"}, "fix CVE-2023-45853")},
		file{"SPECS/zlib/CVE-2022-37434.nopatch", ""},
		file{"SPECS/oldtool/oldtool.spec", specText("oldtool", "0.9", "3", "", nil, "x")},
		file{"SPECS/kernel/kernel.spec", specText("kernel", "6.1.10", "1", "", nil, "x")},
		file{"SPECS/kernel/config", "CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=y\n# CONFIG_D is not set\n"},
		file{"SPECS-EXTENDED/broken/broken.spec", "Name: broken\n%if\n"},
		file{"SPECS/curl/curl.spec", specText("curl", "8.0", "%{acme_major}", "Requires: libfoo >= %{undefined_macro}\n", nil, "x")},
	)
	newTree := writeTree(t, macros,
		file{"SPECS/acme-rpm-macros/acme-rpm-macros.spec", specText("acme-rpm-macros", "1", "1", "", nil, "first")},
		file{"SPECS/zlib/zlib.spec", specText("zlib", "1.3", "1", "Patch1: build-fix.patch\nPatch2: CVE-2026-0001.patch\n", []string{"static"},
			"update; fixes CVE-2026-0001 and CVE-2023-45853")},
		file{"SPECS/newtool/newtool.spec", specText("newtool", "1.0", "1", "Obsoletes: oldtool < 1.0\n", nil, "x")},
		file{"SPECS/kernel/kernel.spec", specText("kernel", "6.1.20", "1", "", nil, "x")},
		file{"SPECS/kernel/config", "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_D=y\nCONFIG_E=m\n"},
		file{"SPECS/curl/curl.spec", specText("curl", "8.0", "%{acme_major}", "Requires: libfoo >= %{undefined_macro}\n", nil, "x")},
	)
	ctx := context.Background()
	a, err := Read(ctx, oldTree, Options{Defines: []string{"dist .ac1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(ctx, newTree, Options{Defines: []string{"dist .ac1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.MacroFiles) != 1 || a.MacroFiles[0] != "SPECS/acme-rpm-macros/macros" {
		t.Errorf("macro files: %v", a.MacroFiles)
	}
	if c := a.Sources["curl"]; c == nil || c.EVR != "8.0-1.ac1" {
		t.Errorf("curl (the tree's own macro in Release): %+v", c)
	}
	d := Compare(a, b)
	got := map[string]SourceChange{}
	for _, s := range d.Sources {
		got[s.Name] = s
	}
	z := got["zlib"]
	if z.Change != "upgraded" || z.Old != "1.2.13-1.ac1" || z.New != "1.3-1.ac1" ||
		strings.Join(z.PackagesAdded, ",") != "zlib-static" || strings.Join(z.PackagesRemoved, ",") != "zlib-devel" ||
		strings.Join(z.PatchesAdded, ",") != "CVE-2026-0001.patch" || strings.Join(z.PatchesDropped, ",") != "CVE-2023-45853.patch" ||
		strings.Join(z.NoPatchDropped, ",") != "CVE-2022-37434" || strings.Join(z.ChangelogCVEs, ",") != "CVE-2026-0001" {
		t.Errorf("zlib: %+v", z)
	}
	if got["oldtool"].Change != "removed" || got["newtool"].Change != "added" || got["kernel"].Change != "upgraded" {
		t.Errorf("sources: %+v", d.Sources)
	}
	if _, ok := got["curl"]; ok {
		t.Errorf("unchanged curl listed: %+v", got["curl"])
	}
	gone := map[string]bool{}
	for _, r := range d.Binaries {
		gone[r.Name] = true
	}
	if !gone["oldtool"] || !gone["zlib-devel"] || gone["zlib"] {
		t.Errorf("binaries removed: %+v", d.Binaries)
	}
	if len(d.Kernels) != 1 || d.Kernels[0].Path != "SPECS/kernel/config" || len(d.Kernels[0].Options) != 4 ||
		strings.Join(d.Kernels[0].TurnedOff, ",") != "CONFIG_B,CONFIG_C" {
		t.Errorf("kernel configs: %+v", d.Kernels)
	}
	// The broken spec and the unexpandable macro are problems of their
	// specs, not of the tree; %(nproc) in %build is not one.
	var msgs []string
	for _, p := range d.Problems {
		msgs = append(msgs, p.Side+" "+p.File+" "+strings.Join(p.Messages, "|"))
	}
	all := strings.Join(msgs, "\n")
	if !strings.Contains(all, "from SPECS-EXTENDED/broken/broken.spec") || !strings.Contains(all, "undefined_macro") || strings.Contains(all, "nproc") {
		t.Errorf("problems:\n%s", all)
	}
	var out strings.Builder
	d.WriteText(&out)
	for _, want := range []string{"upgraded   zlib 1.2.13-1.ac1 → 1.3-1.ac1", "CVE patches added: CVE-2026-0001.patch", "removed    oldtool 0.9-3.ac1",
		"kernel config SPECS/kernel/config (changed): 4 options changed, 2 turned off: CONFIG_B CONFIG_C"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReadBadInput(t *testing.T) {
	if _, err := Read(context.Background(), filepath.Join(t.TempDir(), "nope"), Options{}); err == nil {
		t.Error("missing tree read")
	}
	if _, err := Read(context.Background(), t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "not a distribution source tree") {
		t.Errorf("empty tree: %v", err)
	}
	// A kernel config that is not one, and a fifo in its place, are problems.
	dir := writeTree(t, file{"SPECS/kernel/kernel.spec", specText("kernel", "1", "1", "", nil, "x")},
		file{"SPECS/kernel/config", "garbage line\n"})
	tr, err := Read(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Problems) != 1 || !strings.Contains(tr.Problems[0].Messages[0], "want CONFIG_NAME=value") {
		t.Errorf("problems: %+v", tr.Problems)
	}
}

// FuzzReadTree feeds a spec and a kernel config of any bytes to the
// reader: problems, never a panic.
func FuzzReadTree(f *testing.F) {
	f.Add(specText("a", "1", "1", "Patch0: CVE-2024-0001.patch\n", []string{"x"}, "CVE-2024-0002"), "CONFIG_A=y\n")
	f.Add("Name: x\n%if 1\n", "# CONFIG_X is not set\n")
	f.Add("%define a %a%a\nName: %a\n", "\x00\xff")
	f.Fuzz(func(t *testing.T, specData, config string) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "SPECS", "kernel"), 0o755)
		os.WriteFile(filepath.Join(dir, "SPECS", "kernel", "kernel.spec"), []byte(specData), 0o644)
		os.WriteFile(filepath.Join(dir, "SPECS", "kernel", "config"), []byte(config), 0o644)
		tr, err := Read(context.Background(), dir, Options{Jobs: 1})
		if err != nil {
			t.Fatal(err)
		}
		Compare(tr, tr)
	})
}
