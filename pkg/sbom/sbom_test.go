package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/inventory"
	"github.com/keel-linux/keel/pkg/spdx"
)

var created = time.Unix(1700000000, 0).UTC()

// imageRoot rpmbuilds two packages (one requiring the other) and installs
// them for real into a root, so files exist to be hashed; demoTags are more
// header lines for keel-demo.
func imageRoot(t *testing.T, demoTags ...string) (root, rpmDir string) {
	t.Helper()
	testenv.RequireTool(t, "rpmbuild", "rpm")
	dir := t.TempDir()
	home, top := filepath.Join(dir, "home"), filepath.Join(dir, "top")
	root = filepath.Join(dir, "root")
	os.MkdirAll(home, 0o755)
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(home, ".rpmmacros"), []byte("%_dbpath /usr/lib/sysimage/rpm\n"), 0o644)
	for _, p := range []struct{ name, ver, rel, req string }{
		{"keel-libdemo", "1.0", "1.kl1", ""},
		{"keel-demo", "2.1+git3", "4.kl1", "Requires: keel-libdemo\n" + strings.Join(demoTags, "")},
	} {
		spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\nSummary: demo\nLicense: MIT\nBuildArch: noarch\n%s%%description\ndemo\n%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s > %%{buildroot}/usr/share/%s/a\necho b > %%{buildroot}/usr/share/%s/b\n%%files\n/usr/share/%s\n",
			p.name, p.ver, p.rel, p.req, p.name, p.name, p.name, p.name, p.name)
		sp := filepath.Join(dir, p.name+".spec")
		os.WriteFile(sp, []byte(spec), 0o644)
		cmd := exec.Command("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", sp)
		cmd.Env = append(os.Environ(), "HOME="+home, "SOURCE_DATE_EPOCH=1700000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpmbuild: %v\n%s", err, out)
		}
	}
	rpmDir = filepath.Join(top, "RPMS")
	rpms, _ := filepath.Glob(filepath.Join(rpmDir, "noarch", "*.rpm"))
	cmd := exec.Command("rpm", append([]string{"--root", root, "--dbpath", "/usr/lib/sysimage/rpm", "-i", "--nodeps", "--noscripts"}, rpms...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm -i: %v\n%s", err, out)
	}
	return root, rpmDir
}

func opts(kind string, in ...string) Options {
	return Options{Kind: kind, Inputs: in, Name: "demo", Version: "1.0", Created: created,
		Purl: inventory.PurlOptions{Namespace: "keel", Distro: "keel-1.0"}, Supplier: "Keel Linux", Tool: "keel-test", Files: true}
}

func cyclonedxSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("go list -m cyclonedx-go: %v", err)
	}
	var m struct{ Dir string }
	json.Unmarshal(out, &m)
	// bom-1.6 refers to its siblings by their http $id; the module ships the
	// JSF one as jsf-0.82.schemax.json.
	c := jsonschema.NewCompiler()
	for url, file := range map[string]string{
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schemax.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
	} {
		f, err := os.Open(filepath.Join(m.Dir, "schema", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(filepath.Join(m.Dir, "schema", "bom-1.6.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImageSBOM(t *testing.T) {
	root, _ := imageRoot(t)
	res, err := Generate(context.Background(), opts("image", root))
	if err != nil {
		t.Fatal(err)
	}
	if res.Packages != 2 || res.Files != 4 {
		t.Fatalf("%d packages, %d files", res.Packages, res.Files)
	}
	// CycloneDX 1.6: the official schema, shipped in the cyclonedx-go module.
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.CycloneDX))
	if err != nil {
		t.Fatal(err)
	}
	if err := cyclonedxSchema(t).Validate(inst); err != nil {
		t.Fatalf("CycloneDX 1.6 schema: %v", err)
	}
	var bom struct {
		Components []struct {
			Purl       string `json:"purl"`
			Components []struct {
				Hashes []struct{ Alg, Content string } `json:"hashes"`
			} `json:"components"`
		} `json:"components"`
		Dependencies []struct {
			Ref       string   `json:"ref"`
			DependsOn []string `json:"dependsOn"`
		} `json:"dependencies"`
	}
	json.Unmarshal(res.CycloneDX, &bom)
	want := []string{"pkg:rpm/keel/keel-demo@2.1%2Bgit3-4.kl1?arch=noarch&distro=keel-1.0", "pkg:rpm/keel/keel-libdemo@1.0-1.kl1?arch=noarch&distro=keel-1.0"}
	if len(bom.Components) != 2 || bom.Components[0].Purl != want[0] || bom.Components[1].Purl != want[1] {
		t.Fatalf("components: %+v", bom.Components)
	}
	foundDep := false
	for _, d := range bom.Dependencies {
		if d.Ref == want[0] && len(d.DependsOn) == 1 && d.DependsOn[0] == want[1] {
			foundDep = true
		}
	}
	if !foundDep {
		t.Fatalf("keel-demo → keel-libdemo dependency missing: %+v", bom.Dependencies)
	}
	checkSPDX(t, res.SPDX, want)
	// Reproducible: same input, same bytes.
	again, _ := Generate(context.Background(), opts("image", root))
	if !bytes.Equal(again.SPDX, res.SPDX) || !bytes.Equal(again.CycloneDX, res.CycloneDX) {
		t.Fatal("SBOMs differ between two runs")
	}
	// The SBOM feeds the scanner.
	pkgs, skipped, err := inventory.ReadSBOM("s.json", res.SPDX)
	if err != nil || skipped != 0 || len(pkgs) != 2 || pkgs[0].Version != "2.1+git3" {
		t.Fatalf("scan of SPDX: %+v %d %v", pkgs, skipped, err)
	}
	pkgs, _, err = inventory.ReadSBOM("c.json", res.CycloneDX)
	if err != nil || len(pkgs) != 2 {
		t.Fatalf("scan of CycloneDX: %v", err)
	}
	syftCrossCheck(t, root, want)
}

// checkSPDX: no official SPDX 2.3 JSON schema is available from a Go module
// or a Debian package, so check the structure the schema and spec demand.
func checkSPDX(t *testing.T, data []byte, purls []string) {
	t.Helper()
	doc, err := spdx.Parse("spdx", data)
	if err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXIdentifier != "DOCUMENT" || !strings.HasPrefix(doc.DocumentNamespace, "https://") {
		t.Fatalf("document header: %+v", doc)
	}
	if doc.CreationInfo == nil || len(doc.CreationInfo.Creators) == 0 || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Fatalf("creationInfo: %+v", doc.CreationInfo)
	}
	ids := map[string]bool{"DOCUMENT": true}
	var got []string
	for _, p := range doc.Packages {
		ids[string(p.PackageSPDXIdentifier)] = true
		if p.PackageDownloadLocation == "" || p.PackageName == "" {
			t.Errorf("package %s: name and downloadLocation are required", p.PackageName)
		}
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" && r.Category == "PACKAGE-MANAGER" {
				got = append(got, r.Locator)
			}
		}
		if p.FilesAnalyzed && p.PackageVerificationCode == nil {
			t.Errorf("%s: filesAnalyzed without verification code", p.PackageName)
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(purls, " ") {
		t.Fatalf("purls %v, want %v", got, purls)
	}
	contains := map[string][]string{}
	for _, f := range doc.Files {
		ids[string(f.FileSPDXIdentifier)] = true
		if len(f.Checksums) != 2 || len(f.Checksums[0].Value) != 40 || len(f.Checksums[1].Value) != 64 {
			t.Errorf("%s: want SHA1 and SHA256", f.FileName)
		}
	}
	for _, r := range doc.Relationships {
		a, b := string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)
		if !ids[a] || !ids[b] {
			t.Errorf("relationship %s %s %s: dangling", a, r.Relationship, b)
		}
		if r.Relationship == "CONTAINS" {
			contains[a] = append(contains[a], b)
		}
	}
	for _, p := range doc.Packages {
		var sha1s []string
		for _, fid := range contains[string(p.PackageSPDXIdentifier)] {
			for _, f := range doc.Files {
				if string(f.FileSPDXIdentifier) == fid {
					sha1s = append(sha1s, f.Checksums[0].Value)
				}
			}
		}
		if p.PackageVerificationCode != nil && p.PackageVerificationCode.Value != spdx.VerificationCode(sha1s) {
			t.Errorf("%s: verification code does not match its files", p.PackageName)
		}
	}
}

func TestRepoSBOM(t *testing.T) {
	_, dir := imageRoot(t)
	res, err := Generate(context.Background(), opts("repo", dir))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Packages []struct {
			FileName  string `json:"packageFileName"`
			Checksums []struct {
				Algorithm, ChecksumValue string
			} `json:"checksums"`
		} `json:"packages"`
	}
	json.Unmarshal(res.SPDX, &doc)
	if len(doc.Packages) != 2 || !strings.HasSuffix(doc.Packages[0].FileName, ".noarch.rpm") || len(doc.Packages[0].Checksums[0].ChecksumValue) != 64 {
		t.Fatalf("%+v", doc.Packages)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(res.CycloneDX))
	if err := cyclonedxSchema(t).Validate(inst); err != nil {
		t.Fatalf("CycloneDX 1.6 schema: %v", err)
	}
}

// syftCrossCheck compares the package and purl set with syft's on the same
// root. syft takes over 4 minutes to install cold here, so it is opt-in
// (KEEL_SYFT=1; go install github.com/anchore/syft/cmd/syft@v1.18.1).
func syftCrossCheck(t *testing.T, root string, want []string) {
	if os.Getenv("KEEL_SYFT") != "1" {
		t.Log("syft cross-check skipped; set KEEL_SYFT=1")
		return
	}
	testenv.RequireTool(t, "syft")
	out, err := exec.Command("syft", "scan", "dir:"+root, "-o", "cyclonedx-json", "-q").Output()
	if err != nil {
		t.Fatalf("syft: %v", err)
	}
	var bom struct {
		Components []struct {
			Type, Name, Version, Purl string
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range bom.Components {
		if !strings.HasPrefix(c.Purl, "pkg:rpm/") {
			continue
		}
		p, err := inventory.ParsePurl(c.Purl)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Purl(inventory.PurlOptions{Namespace: "keel", Distro: "keel-1.0"}))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("syft found %v, keel %v", got, want)
	}
}

// A package that vendors Go modules (bundled(golang()) Provides, as
// keel-go-macros writes them) lists them, with pkg:golang purls, inside it.
func TestGoModulesInSBOM(t *testing.T) {
	root, _ := imageRoot(t, "Provides: bundled(golang(github.com/example/lib)) = 1.2.0\n",
		"Provides: bundled(golang(golang.org/x/pseudo)) = 0.0.0~20240101000000~abcdef123456\n")
	res, err := Generate(context.Background(), opts("image", root))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pkg:golang/github.com/example/lib@v1.2.0", "pkg:golang/golang.org/x/pseudo@v0.0.0-20240101000000-abcdef123456"}
	var bom struct {
		Components []struct {
			Name       string `json:"name"`
			Components []struct {
				Purl string `json:"purl"`
			} `json:"components"`
		} `json:"components"`
	}
	json.Unmarshal(res.CycloneDX, &bom)
	var got []string
	for _, c := range bom.Components {
		for _, m := range c.Components {
			if strings.HasPrefix(m.Purl, "pkg:golang/") {
				got = append(got, c.Name+" "+m.Purl)
			}
		}
	}
	if strings.Join(got, ",") != "keel-demo "+want[0]+",keel-demo "+want[1] {
		t.Fatalf("CycloneDX Go modules %q, want %q inside keel-demo", got, want)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(res.CycloneDX))
	if err := cyclonedxSchema(t).Validate(inst); err != nil {
		t.Fatalf("CycloneDX 1.6 schema: %v", err)
	}
	for _, w := range append(want, "CONTAINS") {
		if !bytes.Contains(res.SPDX, []byte(w)) {
			t.Errorf("SPDX lacks %s", w)
		}
	}
}
