package rpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
)

// rpmbuild builds spec in a temp topdir and returns the binary RPMs' paths.
func rpmbuild(t testing.TB, spec string, defines ...string) []string {
	t.Helper()
	testenv.RequireTool(t, "rpmbuild")
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "SPECS"), 0o755); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(top, "SPECS", "t.spec")
	if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--define", "_topdir " + top, "--define", "_dbpath " + filepath.Join(top, "db"),
		"--define", "_buildhost keel", "--define", "use_source_date_epoch_as_buildtime 1",
		"--define", "clamp_mtime_to_source_date_epoch 1", "--nodeps", "--quiet"}
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	args = append(args, "-bb", sp)
	cmd := exec.Command("rpmbuild", args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
	if len(rpms) == 0 {
		t.Fatal("rpmbuild made no packages")
	}
	return rpms
}

const richSpec = `Name: rich
Epoch: 3
Version: 1.2~rc1
Release: 4.kl1
Summary: A package with a bit of everything
License: MIT AND Apache-2.0
URL: https://example.org/rich
BuildArch: noarch
Provides: rich-api = 2.0
Requires: /bin/sh
Requires(pre): coreutils
Requires: glibc >= 2.36
Conflicts: poor < 1.0
Obsoletes: oldrich <= 0.9-1
Recommends: extras
%description
Rich test package.
%install
mkdir -p %{buildroot}/usr/share/rich %{buildroot}/usr/bin
printf 'hello\n' > %{buildroot}/usr/share/rich/a.txt
printf 'hard\n' > %{buildroot}/usr/share/rich/h1
ln %{buildroot}/usr/share/rich/h1 %{buildroot}/usr/share/rich/h2
ln -s ../share/rich/a.txt %{buildroot}/usr/bin/rich-link
printf '#!/bin/sh\necho rich\n' > %{buildroot}/usr/bin/rich
chmod 0755 %{buildroot}/usr/bin/rich
%files
%dir /usr/share/rich
/usr/share/rich/a.txt
/usr/share/rich/h1
/usr/share/rich/h2
/usr/bin/rich
/usr/bin/rich-link
%changelog
* Tue Nov 14 2023 Keel Dev <dev@keel.example> - 3:1.2~rc1-4.kl1
- First entry
`

func rpmq(t *testing.T, path, qf string) string {
	t.Helper()
	out, err := exec.Command("rpm", "--dbpath", t.TempDir(), "-qp", "--nosignature", "--qf", qf, path).Output()
	if err != nil {
		t.Fatalf("rpm -qp %s: %v", qf, err)
	}
	return string(out)
}

func TestReadPackageMatchesRPM(t *testing.T) {
	for _, comp := range []string{"w9.gzdio", "w6.xzdio", "w19.zstdio"} {
		t.Run(comp, func(t *testing.T) {
			path := rpmbuild(t, richSpec, "_binary_payload "+comp)[0]
			p, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			h := p.Header
			got := fmt.Sprintf("%s|%s|%s|%s|%s|%s|%d|%s|%s", h.Name(), h.EVR().Full(), h.Arch(), h.SourceRPM(),
				h.Summary(), h.License(), h.Size(), h.NEVRA(), h.String(TagPayloadCompressor))
			want := rpmq(t, path, "%{NAME}|%{EPOCH}:%{VERSION}-%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{SUMMARY}|%{LICENSE}|%{SIZE}|%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}|%{PAYLOADCOMPRESSOR}")
			if got != want {
				t.Errorf("header fields:\n got %s\nwant %s", got, want)
			}
			var deps []string
			for _, set := range [][]Dependency{h.Provides(), h.Requires(), h.Conflicts(), h.Obsoletes(), h.Recommends()} {
				for _, d := range set {
					deps = append(deps, d.String())
				}
			}
			wantDeps := rpmq(t, path, "[%{PROVIDENEVRS}\n][%{REQUIRENEVRS}\n][%{CONFLICTNEVRS}\n][%{OBSOLETENEVRS}\n][%{RECOMMENDNEVRS}\n]")
			if g := strings.Join(deps, "\n") + "\n"; g != wantDeps {
				t.Errorf("deps:\n got %s\nwant %s", g, wantDeps)
			}
			files, err := h.Files()
			if err != nil {
				t.Fatal(err)
			}
			var fl []string
			for _, f := range files {
				fl = append(fl, fmt.Sprintf("%s %o %d %s %s %s", f.Path, f.Mode, f.Size, f.User, f.LinkTo, f.Digest))
			}
			wantFiles := rpmq(t, path, "[%{FILENAMES} %{FILEMODES:octal} %{FILESIZES} %{FILEUSERNAME} %{FILELINKTOS} %{FILEDIGESTS}\n]")
			if g := strings.Join(fl, "\n") + "\n"; g != wantFiles {
				t.Errorf("files:\n got %s\nwant %s", g, wantFiles)
			}
			cl := h.Changelog()
			if len(cl) != 1 || !strings.Contains(cl[0].Author, "Keel Dev") || cl[0].Text != "- First entry" {
				t.Errorf("changelog = %+v", cl)
			}
			if err := p.VerifyDigests(); err != nil {
				t.Errorf("VerifyDigests: %v", err)
			}
			// The main header re-exports byte for byte.
			if !bytes.Equal(h.MarshalFile(), p.HeaderBlob) {
				t.Error("header does not re-export verbatim")
			}
			root := t.TempDir()
			if err := ExtractPackage(context.Background(), p, root, ExtractPolicy{}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "usr/bin/rich-link")); string(b) != "hello\n" {
				t.Errorf("symlink content %q", b)
			}
			a, _ := os.Stat(filepath.Join(root, "usr/share/rich/h1"))
			b, _ := os.Stat(filepath.Join(root, "usr/share/rich/h2"))
			if a == nil || b == nil || !os.SameFile(a, b) {
				t.Error("hard links not preserved")
			}
			if fi, _ := os.Stat(filepath.Join(root, "usr/bin/rich")); fi == nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("mode of /usr/bin/rich: %v", fi)
			}
		})
	}
}

// TestHeaderWriterAcceptedByRPM rebuilds the main header from scratch (a
// fresh region) and the signature header, and has rpm read and verify it.
func TestHeaderWriterAcceptedByRPM(t *testing.T) {
	path := rpmbuild(t, richSpec)[0]
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := CloneHeader(p.Header)
	h.SetI18NString(TagSummary, "Rewritten by keel") // region entry: forces a fresh region
	h.SetUint32s(TagInstallTime, 1700000001)
	hf := h.MarshalFile()
	if _, err := ParseHeaderBlob(hf[8:]); err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	raw, _ := p.RawPayload()
	var pl bytes.Buffer
	pl.ReadFrom(raw)
	raw.Close()
	sig := NewSignatureHeader(hf, pl.Bytes(), p.Header.ArchiveSize())
	out := filepath.Join(t.TempDir(), "re.rpm")
	f, _ := os.Create(out)
	if err := WritePackage(f, p.Lead, sig, hf, &pl); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if o, err := exec.Command("rpm", "--dbpath", t.TempDir(), "-Kv", "--nosignature", out).CombinedOutput(); err != nil || strings.Contains(string(o), "BAD") {
		t.Fatalf("rpm -K rejected the rewritten package: %v\n%s", err, o)
	}
	if got := rpmq(t, out, "%{SUMMARY}|%{INSTALLTIME}"); got != "Rewritten by keel|1700000001" {
		t.Errorf("rpm reads %q", got)
	}
	q, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.VerifyDigests(); err != nil {
		t.Error(err)
	}
}

// TestHeaderDribbleKeepsRegion adds tags outside the immutable region (as an
// installer does for the rpmdb) and checks the region stays byte-identical.
func TestHeaderDribbleKeepsRegion(t *testing.T) {
	path := rpmbuild(t, richSpec)[0]
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := CloneHeader(p.Header)
	h.SetUint32s(TagInstallTime, 1700000001)
	h.SetUint32s(TagInstallTID, 1700000001)
	blob := h.Marshal()
	orig := p.HeaderBlob[8:]
	il := int(orig[3]) | int(orig[2])<<8
	if !bytes.Equal(blob[8:8+il*16], orig[8:8+il*16]) {
		t.Error("region index entries changed")
	}
	h2, err := ParseHeaderBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h2.Uint64(TagInstallTime); v != 1700000001 || h2.Name() != "rich" {
		t.Errorf("reparsed: installtime %d name %q", v, h2.Name())
	}
	if !bytes.Equal(h2.Marshal(), blob) {
		t.Error("dribble header does not re-export verbatim")
	}
}

// TestRpmdbBlobRoundTrip reads a header blob from a real rpmdb written by
// rpm (region plus rpm's own added tags), re-exports it with one more tag,
// writes it back and has rpm read it.
func TestRpmdbBlobRoundTrip(t *testing.T) {
	testenv.RequireTool(t, "sqlite3")
	path := rpmbuild(t, richSpec)[0]
	db := t.TempDir()
	if o, err := exec.Command("rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", "--nosignature", path).CombinedOutput(); err != nil {
		t.Fatalf("rpm -i --justdb: %v\n%s", err, o)
	}
	sq := filepath.Join(db, "rpmdb.sqlite")
	blobFile := filepath.Join(t.TempDir(), "blob")
	if o, err := exec.Command("sqlite3", sq, "SELECT writefile('"+blobFile+"', blob) FROM Packages LIMIT 1").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, o)
	}
	blob, _ := os.ReadFile(blobFile)
	h, err := ParseHeaderBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name() != "rich" || !h.Has(TagInstallTime) {
		t.Fatalf("rpmdb header: name %q, has installtime %v", h.Name(), h.Has(TagInstallTime))
	}
	if !bytes.Equal(h.Marshal(), blob) {
		t.Error("rpmdb blob does not re-export byte for byte")
	}
	h.SetStrings(TagPrefixes, []string{"/keel-test"})
	os.WriteFile(blobFile, h.Marshal(), 0o644)
	if o, err := exec.Command("sqlite3", sq, "UPDATE Packages SET blob = readfile('"+blobFile+"')").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, o)
	}
	o, err := exec.Command("rpm", "--dbpath", db, "-q", "--qf", "%{NAME}|%{PREFIXES}", "rich").CombinedOutput()
	if err != nil || string(o) != "rich|/keel-test" {
		t.Errorf("rpm reads our rpmdb blob as %q (%v)", o, err)
	}
}

func TestReadPackageErrors(t *testing.T) {
	path := rpmbuild(t, richSpec)[0]
	good, _ := os.ReadFile(path)
	gp, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "lead"},
		{"not rpm", []byte(strings.Repeat("x", 200)), "not an rpm"},
		{"truncated sig", good[:100], "signature header"},
		{"truncated header", good[:gp.PayloadOffset-10], "main header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPackage(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
	// A flipped payload byte fails the digest check.
	bad := append([]byte(nil), good...)
	bad[len(bad)-10] ^= 0xff
	tmp := filepath.Join(t.TempDir(), "bad.rpm")
	os.WriteFile(tmp, bad, 0o644)
	p, err := Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyDigests(); err == nil || !strings.Contains(err.Error(), "payload") {
		t.Errorf("tampered payload: %v", err)
	}
}

// Tags below 100 are region tags, which rpm accepts only as a header's
// first entry (hdrchkTag). Accepted elsewhere, a header re-exported with it
// first read as a malformed region (found by FuzzParseHeaderBlob).
func TestHeaderRegionTagOnlyFirst(t *testing.T) {
	// Two entries: Name, then tag 63 as an ordinary INT16 pair.
	var b []byte
	for _, v := range []uint32{2, 6, uint32(TagName), uint32(TypeString), 0, 1, uint32(TagHeaderImmutable), uint32(TypeInt16), 2, 2} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, 'x', 0, 0, 1, 0, 2)
	_, err := ParseHeaderBlob(b)
	if err == nil || !strings.Contains(err.Error(), "tag 63 is reserved") {
		t.Fatalf("err = %v, want tag 63 refused", err)
	}
	good := NewHeader(TagHeaderImmutable)
	good.SetString(TagName, "x")
	if _, err := ParseHeaderBlob(good.Marshal()); err != nil {
		t.Fatalf("a header with its region first: %v", err)
	}
}

func FuzzReadPackage(f *testing.F) {
	b, _ := os.ReadFile(craftRPM(f, f.TempDir(), "seed", []item{{name: "./a", mode: reg, data: "x"}}))
	f.Add(b)
	f.Add([]byte{0xed, 0xab, 0xee, 0xdb})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ReadPackage(bytes.NewReader(b))
		if err != nil {
			return
		}
		p.Header.Files()
		p.Header.Requires()
		p.Header.Changelog()
		h2, err := ParseHeaderBlob(p.Header.Marshal())
		if err != nil {
			t.Fatalf("re-export of an accepted header does not parse: %v", err)
		}
		if h2.NEVRA() != p.Header.NEVRA() {
			t.Fatal("re-export changed the NEVRA")
		}
	})
}

func FuzzParseHeaderBlob(f *testing.F) {
	h := NewHeader(TagHeaderImmutable)
	h.SetString(TagName, "x")
	h.SetStrings(TagBaseNames, []string{"a", "b"})
	h.SetUint16s(TagFileModes, []uint16{0o100644, 0o40755})
	f.Add(h.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeaderBlob(b)
		if err != nil {
			return
		}
		for _, tag := range h.Tags() {
			h.Strings(tag)
			h.Uint64s(tag)
		}
		h.Files()
		if _, err := ParseHeaderBlob(h.Marshal()); err != nil {
			t.Fatalf("re-export does not parse: %v", err)
		}
	})
}
