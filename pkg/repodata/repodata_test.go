package repodata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/rpm"
)

const spec = `Name: meta%d
Epoch: %d
Version: 1.%d
Release: 1.kl1
Summary: Metadata test <%d> & "quotes"
License: MIT
URL: https://example.org/
BuildArch: noarch
AutoReq: no
Provides: meta-api = 2.%d
Requires: glibc >= 2.36
Requires(pre): shadow-utils
Requires: rpmlib(CompressedFileNames) <= 3.0.4-1
Requires: /usr/bin/meta%d
Conflicts: oldmeta < 1
Obsoletes: ancient <= 0.1
Recommends: meta-doc
%%description
Line one.
Line two with <xml> & stuff.
%%install
mkdir -p %%{buildroot}/usr/bin %%{buildroot}/etc/meta %%{buildroot}/usr/share/meta%d
echo x > %%{buildroot}/usr/bin/meta%d
echo c > %%{buildroot}/etc/meta/m%d.conf
echo d > %%{buildroot}/usr/share/meta%d/data
%%files
/usr/bin/meta%d
%%config(noreplace) /etc/meta/m%d.conf
%%dir /usr/share/meta%d
/usr/share/meta%d/data
%%ghost /var/log/meta%d.log
%%changelog
* Tue Nov 14 2023 Keel Dev <dev@keel.example> - 1.%d-1.kl1
- Second & <last>
* Mon Nov 13 2023 Keel Dev <dev@keel.example> - 1.0-1
- First
`

// buildRPMs builds n small packages into dir with rpmbuild.
func buildRPMs(t *testing.T, dir string, first, n int) []string {
	t.Helper()
	testenv.RequireTool(t, "rpmbuild")
	var out []string
	for i := first; i < first+n; i++ {
		top := t.TempDir()
		os.MkdirAll(filepath.Join(top, "SPECS"), 0o755)
		sp := filepath.Join(top, "SPECS", "m.spec")
		args := make([]any, 0, 20)
		args = append(args, i, i%2)
		for range 16 {
			args = append(args, i)
		}
		os.WriteFile(sp, []byte(fmt.Sprintf(spec, args...)), 0o644)
		cmd := exec.Command("rpmbuild", "--define", "_topdir "+top, "--define", "_dbpath "+top+"/db", "--nodeps", "--quiet", "-bb", sp)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpmbuild: %v\n%s", err, o)
		}
		rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
		for _, r := range rpms {
			dst := filepath.Join(dir, filepath.Base(r))
			b, _ := os.ReadFile(r)
			os.WriteFile(dst, b, 0o644)
			out = append(out, dst)
		}
	}
	return out
}

func metaFor(t *testing.T, dir string, paths []string) []*Package {
	t.Helper()
	var pkgs []*Package
	for _, p := range paths {
		rp, err := rpm.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		fi, _ := os.Stat(p)
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		m, err := NewPackage(rp, FileInfo{Href: rel, Size: fi.Size(), Mtime: fi.ModTime().Unix(), Checksum: hex.EncodeToString(sum[:])})
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, m)
	}
	return pkgs
}

func writeRepo(t *testing.T, dir string, pkgs []*Package, opt WriteOptions) *Repomd {
	t.Helper()
	md, err := WriteMetadata(filepath.Join(dir, "repodata"), pkgs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), md.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return md
}

// TestMatchesCreaterepo decodes createrepo_c's metadata and ours for the
// same packages and compares what dnf uses.
func TestMatchesCreaterepo(t *testing.T) {
	testenv.RequireTool(t, "createrepo_c")
	dir := t.TempDir()
	paths := buildRPMs(t, dir, 0, 3)
	for _, comp := range []Compression{Zstd, Gzip, None} {
		t.Run(string(comp), func(t *testing.T) {
			ours := t.TempDir()
			for _, p := range paths {
				b, _ := os.ReadFile(p)
				os.WriteFile(filepath.Join(ours, filepath.Base(p)), b, 0o644)
			}
			ourPaths, _ := filepath.Glob(filepath.Join(ours, "*.rpm"))
			writeRepo(t, ours, metaFor(t, ours, ourPaths), WriteOptions{Compression: comp, Timestamp: 1700000000})
			_, mine, err := ReadRepo(ours)
			if err != nil {
				t.Fatal(err)
			}
			theirsDir := t.TempDir()
			for _, p := range paths {
				b, _ := os.ReadFile(p)
				os.WriteFile(filepath.Join(theirsDir, filepath.Base(p)), b, 0o644)
			}
			if o, err := exec.Command("createrepo_c", "-q", "--no-database", theirsDir).CombinedOutput(); err != nil {
				t.Fatalf("createrepo_c: %v %s", err, o)
			}
			_, theirs, err := ReadRepo(theirsDir)
			if err != nil {
				t.Fatalf("reading createrepo_c's repository: %v", err)
			}
			if len(mine) != len(theirs) {
				t.Fatalf("%d vs %d packages", len(mine), len(theirs))
			}
			sort.Slice(theirs, func(i, j int) bool { return theirs[i].Name < theirs[j].Name })
			for i := range mine {
				a, err := mine[i].Decode()
				if err != nil {
					t.Fatal(err)
				}
				b, err := theirs[i].Decode()
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("primary differs:\n ours   %+v\n theirs %+v", a, b)
				}
				if mine[i].PkgID != theirs[i].PkgID || mine[i].Href != theirs[i].Href || mine[i].Size != theirs[i].Size {
					t.Errorf("identity differs: %+v vs %+v", mine[i], theirs[i])
				}
				for _, pair := range [][2][]byte{{mine[i].Filelists, theirs[i].Filelists}, {mine[i].Other, theirs[i].Other}} {
					if canon(t, pair[0]) != canon(t, pair[1]) {
						t.Errorf("fragment differs:\n ours   %s\n theirs %s", pair[0], pair[1])
					}
				}
			}
		})
	}
}

// canon renders an XML fragment's elements, attributes and text without layout.
func canon(t *testing.T, b []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case xml.StartElement:
			sb.WriteString("<" + v.Name.Local)
			as := append([]xml.Attr(nil), v.Attr...)
			sort.Slice(as, func(i, j int) bool { return as[i].Name.Local < as[j].Name.Local })
			for _, a := range as {
				sb.WriteString(" " + a.Name.Local + "=" + a.Value)
			}
			sb.WriteString(">")
		case xml.CharData:
			sb.WriteString(strings.TrimSpace(string(v)))
		case xml.EndElement:
			sb.WriteString("</" + v.Name.Local + ">")
		}
	}
	return sb.String()
}

// TestIncrementalIsReproducible adds packages in two steps re-using the
// first step's frames and checks the result is byte-identical to writing the
// whole set at once.
func TestIncrementalIsReproducible(t *testing.T) {
	dir := t.TempDir()
	paths := buildRPMs(t, dir, 10, 6)
	all := metaFor(t, dir, paths)
	opt := WriteOptions{Timestamp: 1700000000}
	full := t.TempDir()
	want := writeRepo(t, full, append([]*Package(nil), all...), opt)

	step := t.TempDir()
	writeRepo(t, step, append([]*Package(nil), all[:4]...), opt)
	st, err := ReadState(step)
	if err != nil {
		t.Fatal(err)
	}
	if st.chunks == 0 || st.Packages[0].Primary != nil {
		t.Fatal("state file not used")
	}
	opt.Previous = st
	got := writeRepo(t, t.TempDir(), append(st.Packages, all[4:]...), opt)
	for i := range want.Records {
		if want.Records[i] != got.Records[i] {
			t.Errorf("%s: incremental %+v != full %+v", want.Records[i].Type, got.Records[i], want.Records[i])
		}
	}
}

func TestHostileText(t *testing.T) {
	var b xb
	b.text("ok \x01\x7f\xff\xfe <&> \"q\" \r\n\t")
	b.attr("a", "x\"y\n<")
	doc := "<r>" + b.String() + "</r>"
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("escaped text is not XML: %v: %q", err, doc)
	}
	if !strings.Contains(v.Text, "<&>") {
		t.Errorf("text lost: %q", v.Text)
	}
}

func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	paths := buildRPMs(t, dir, 20, 1)
	md := writeRepo(t, dir, metaFor(t, dir, paths), WriteOptions{Timestamp: 1})
	// A flipped byte in primary fails its checksum.
	p := filepath.Join(dir, filepath.FromSlash(md.Record("primary").Href))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, _, err := ReadRepo(dir); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupt primary: %v", err)
	}
	// An href leaving the repository is refused.
	bad := *md
	bad.Records = append([]Record(nil), md.Records...)
	bad.Records[0].Href = "../../etc/passwd"
	if _, err := ReadPackages(dir, &bad); err == nil || !strings.Contains(err.Error(), "leaves the repository") {
		t.Errorf("escaping href: %v", err)
	}
}

func FuzzParseRepomd(f *testing.F) {
	md := &Repomd{Revision: "1", Records: []Record{{Type: "primary", Href: "repodata/x-primary.xml.zst", Checksum: strings.Repeat("a", 64)}}}
	f.Add(md.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRepomd(b)
		if err != nil {
			return
		}
		if _, err := ParseRepomd(r.Marshal()); err != nil {
			t.Fatalf("re-marshalled repomd does not parse: %v", err)
		}
	})
}

func FuzzSplitPrimary(f *testing.F) {
	f.Add([]byte(`<metadata><package type="rpm"><name>a</name><checksum type="sha256">x</checksum><location href="a.rpm"/><packager/></package></metadata>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		frags, err := split(b, "primary")
		if err != nil {
			return
		}
		for _, fr := range frags {
			if p, err := primaryIdentity(fr); err == nil && !validHref(p.Href) {
				t.Fatalf("accepted href %q", p.Href)
			}
		}
	})
}

func FuzzDecodeFrames(f *testing.F) {
	e := soloEncoder()
	f.Add(append(e.EncodeAll([]byte("head"), nil), e.EncodeAll([]byte("body"), nil)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeFrames(b, int64(len(b)))
	})
}

// bareStatePackages are n packages with just enough XML for the state and
// chunk code (a full read of their metadata refuses them).
func bareStatePackages(n int) []*Package {
	var pkgs []*Package
	for i := range n {
		id := fmtID(i)
		pkgs = append(pkgs, &Package{PkgID: id, Name: "p" + id[:4], Arch: "noarch", Href: "Packages/" + id + ".rpm", Size: 1, Mtime: 1,
			Primary:   []byte(`<package type="rpm"><name>p</name><checksum type="sha256" pkgid="YES">` + id + "</checksum></package>\n"),
			Filelists: []byte(`<package pkgid="` + id + "\"></package>\n"),
			Other:     []byte(`<package pkgid="` + id + "\"></package>\n")})
	}
	return pkgs
}

// A state file that describes fewer packages than the metadata holds must
// be found stale (ReadState then reads the metadata itself): publish builds
// on the state's package list, and a short list would drop the rest. Cut to
// its first chunk with a valid CRC, the chunks no longer tile the files; one
// changed byte fails the CRC.
func TestStateMustCoverMetadata(t *testing.T) {
	dir := t.TempDir()
	pkgs := bareStatePackages(100)
	md, err := WriteMetadata(filepath.Join(dir, "repodata"), pkgs, WriteOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), md.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(dir, "repodata", StateFile)
	good, _ := os.ReadFile(stateFile)
	if _, err := readStateFile(dir, md); err != nil {
		t.Fatalf("the state as written: %v", err)
	}
	body := string(good[:bytes.LastIndex(good[:len(good)-1], []byte("\n"))+1])
	second := strings.Index(body[strings.Index(body, "\nchunk\t")+1:], "\nchunk\t") + strings.Index(body, "\nchunk\t") + 1
	withCRC := func(b string) []byte {
		return fmt.Appendf([]byte(b), "crc32c\t%08x\n", crc32.Checksum([]byte(b), castagnoli))
	}
	flipped := bytes.Clone(good)
	flipped[len(stateMagic)+10] ^= 1
	for name, b := range map[string][]byte{
		"first chunk only": withCRC(body[:second+1]),
		"a byte changed":   flipped,
		"no crc line":      []byte(body),
	} {
		if err := os.WriteFile(stateFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readStateFile(dir, md); !errors.Is(err, errStale) {
			t.Errorf("%s: readStateFile = %v, want stale", name, err)
		}
		// The fallback reads the metadata itself (these fragments are too
		// bare for it, so it refuses them): never a short list.
		if st, err := ReadState(dir); err == nil && len(st.Packages) != len(pkgs) {
			t.Errorf("%s: ReadState found %d packages, want %d", name, len(st.Packages), len(pkgs))
		}
	}
}

func FuzzReadState(f *testing.F) {
	// The repository is made inside the fuzz function (once per process):
	// made in the fuzz target's setup, the fuzzing workers stalled.
	var once sync.Once
	var dir string
	var good []byte
	setup := func(tb testing.TB) {
		once.Do(func() {
			d, err := os.MkdirTemp("", "keel-fuzz-state-")
			if err != nil {
				tb.Fatal(err)
			}
			dir = d
			md, err := WriteMetadata(filepath.Join(dir, "repodata"), bareStatePackages(40), WriteOptions{NoSync: true})
			if err != nil {
				tb.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), md.Marshal(), 0o644)
			good, _ = os.ReadFile(filepath.Join(dir, "repodata", StateFile))
		})
	}
	setup(f)
	f.Cleanup(func() { os.RemoveAll(dir) })
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		setup(t)
		os.WriteFile(filepath.Join(dir, "repodata", StateFile), b, 0o644)
		st, err := ReadState(dir)
		if err != nil {
			return
		}
		if len(st.Packages) != 40 {
			t.Fatalf("%d packages", len(st.Packages))
		}
		var need []*Package
		for _, p := range st.Packages {
			if p.Primary == nil {
				need = append(need, p)
			}
		}
		st.load(need)
	})
}

// TestWritev writes more pieces than one writev call takes (and empty ones).
func TestWritev(t *testing.T) {
	var pieces [][]byte
	var want []byte
	for i := range 3000 {
		p := []byte(fmt.Sprintf("piece %d;", i))
		if i%7 == 0 {
			p = nil
		}
		pieces = append(pieces, p)
		want = append(want, p...)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writev(f, pieces); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, want) {
		t.Fatalf("wrote %d bytes, want %d", len(got), len(want))
	}
	if len(pieces[1]) == 0 {
		t.Fatal("writev changed its argument")
	}
}

func TestValidHref(t *testing.T) {
	for h, want := range map[string]bool{
		"a.rpm": true, "Packages/k/keel-1.0-1.noarch.rpm": true, "repodata/x-primary.xml.zst": true, "..a/b..": true,
		"": false, "/etc/passwd": false, "../x": false, "..": false, "a/../b": false, "a//b": false, "a/": false,
		"./a": false, "a/./b": false, "a/..": false, `a\b`: false, "http://x/a.rpm": false, ".": false,
	} {
		if got := validHref(h); got != want {
			t.Errorf("validHref(%q) = %v, want %v", h, got, want)
		}
	}
}
