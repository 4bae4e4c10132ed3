// Package resolvetest writes small but real RPM packages and rpm-md
// repositories from declarative specs, for resolver and compose tests and
// benchmarks: rpm, dnf and createrepo_c accept them like rpmbuild output,
// and writing hundreds takes milliseconds.
package resolvetest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/keel-linux/keel/pkg/cpio"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
	"github.com/keel-linux/keel/pkg/rpm"
)

// Spec describes one package. Dependencies are written as rpm spells them:
// "name", "name >= 1.0-1", "(a or b)".
type Spec struct {
	Name, Version, Release, Arch string
	Epoch                        int
	Provides, Requires           []string
	Conflicts, Obsoletes         []string
	Recommends                   []string
	Files                        map[string]string // path -> content (regular files)
	Links                        map[string]string // path -> symlink target
	HardLinks                    map[string]string // path -> the path in Files it shares an inode with
	Special                      map[string]uint32 // path -> st_mode of a device node, FIFO or socket
	Scripts                      map[rpm.Tag]string
}

// Epoch fixes every timestamp so generated packages are reproducible.
const Epoch = 1700000000

func dep(s string) (rpm.Dependency, error) {
	f := strings.Fields(s)
	if strings.HasPrefix(s, "(") || len(f) == 1 {
		return rpm.Dependency{Name: s}, nil
	}
	d, err := resolve.ParseDep(rpm.Dependency{Name: "(" + s + ")"})
	if err != nil {
		return rpm.Dependency{}, err
	}
	return d.Simple, nil
}

func setDeps(h *rpm.Header, names, flags, vers rpm.Tag, list []string, extra ...rpm.Dependency) error {
	var n, v []string
	var f []uint32
	for _, s := range list {
		d, err := dep(s)
		if err != nil {
			return err
		}
		extra = append(extra, d)
	}
	for _, d := range extra {
		n = append(n, d.Name)
		f = append(f, d.Flags)
		if d.Versioned() {
			v = append(v, d.EVR.String())
		} else {
			v = append(v, "")
		}
	}
	if len(n) > 0 {
		h.SetStrings(names, n)
		h.SetUint32s(flags, f...)
		h.SetStrings(vers, v)
	}
	return nil
}

// WriteRPM writes s as dir/<nevra>.rpm and returns its path.
func WriteRPM(dir string, s Spec) (string, error) {
	if s.Arch == "" {
		s.Arch = "noarch"
	}
	if s.Release == "" {
		s.Release = "1"
	}
	if s.Version == "" {
		s.Version = "1.0"
	}
	h := rpm.NewHeader(rpm.TagHeaderImmutable)
	h.SetString(rpm.TagName, s.Name)
	h.SetString(rpm.TagVersion, s.Version)
	h.SetString(rpm.TagRelease, s.Release)
	if s.Epoch > 0 {
		h.SetUint32s(rpm.TagEpoch, uint32(s.Epoch))
	}
	h.SetI18NString(rpm.TagSummary, "generated package "+s.Name)
	h.SetI18NString(rpm.TagDescription, "Generated for keel's resolver tests.")
	h.SetUint32s(rpm.TagBuildTime, Epoch)
	h.SetString(rpm.TagBuildHost, "keel-test")
	h.SetString(rpm.TagLicense, "MIT")
	h.SetI18NString(rpm.TagGroup, "Unspecified")
	h.SetString(rpm.TagOS, "linux")
	h.SetString(rpm.TagArch, s.Arch)
	h.SetString(rpm.TagRPMVersion, "4.18.0")
	h.SetString(rpm.TagSourceRPM, s.Name+"-"+s.Version+"-"+s.Release+".src.rpm")
	h.SetString(rpm.TagPayloadFormat, "cpio")
	h.SetString(rpm.TagPayloadCompressor, "gzip")
	h.SetString(rpm.TagPayloadFlags, "9")
	evr := rpm.EVR{Epoch: s.Epoch, Version: s.Version, Release: s.Release}
	self := rpm.Dependency{Name: s.Name, Flags: rpm.SenseEqual, EVR: evr}
	if err := setDeps(h, rpm.TagProvideName, rpm.TagProvideFlags, rpm.TagProvideVersion, s.Provides, self); err != nil {
		return "", fmt.Errorf("%s: provides: %w", s.Name, err)
	}
	lib := []rpm.Dependency{
		{Name: "rpmlib(CompressedFileNames)", Flags: rpm.SenseLess | rpm.SenseEqual | rpm.SenseRpmlib, EVR: rpm.MustEVR("3.0.4-1")},
		{Name: "rpmlib(FileDigests)", Flags: rpm.SenseLess | rpm.SenseEqual | rpm.SenseRpmlib, EVR: rpm.MustEVR("4.6.0-1")},
		{Name: "rpmlib(PayloadFilesHavePrefix)", Flags: rpm.SenseLess | rpm.SenseEqual | rpm.SenseRpmlib, EVR: rpm.MustEVR("4.0-1")},
	}
	for _, r := range append(append([]string(nil), s.Requires...), s.Conflicts...) {
		if strings.HasPrefix(r, "(") {
			lib = append(lib, rpm.Dependency{Name: "rpmlib(RichDependencies)", Flags: rpm.SenseLess | rpm.SenseEqual | rpm.SenseRpmlib, EVR: rpm.MustEVR("4.12.0-1")})
			break
		}
	}
	if err := setDeps(h, rpm.TagRequireName, rpm.TagRequireFlags, rpm.TagRequireVersion, s.Requires, lib...); err != nil {
		return "", fmt.Errorf("%s: requires: %w", s.Name, err)
	}
	for _, x := range []struct {
		list    []string
		n, f, v rpm.Tag
	}{
		{s.Conflicts, rpm.TagConflictName, rpm.TagConflictFlags, rpm.TagConflictVersion},
		{s.Obsoletes, rpm.TagObsoleteName, rpm.TagObsoleteFlags, rpm.TagObsoleteVersion},
		{s.Recommends, rpm.TagRecommendName, rpm.TagRecommendFlags, rpm.TagRecommendVersion},
	} {
		if err := setDeps(h, x.n, x.f, x.v, x.list); err != nil {
			return "", fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	for tag, body := range s.Scripts {
		h.SetString(tag, body)
		prog := map[rpm.Tag]rpm.Tag{rpm.TagPreIn: rpm.TagPreInProg, rpm.TagPostIn: rpm.TagPostInProg,
			rpm.TagPreUn: rpm.TagPreUnProg, rpm.TagPostUn: rpm.TagPostUnProg}[tag]
		if prog != 0 {
			h.SetString(prog, "/bin/sh")
		}
	}

	// Files: sorted, with their cpio payload.
	type file struct {
		path, body, link, group string
		mode                    uint32
	}
	var files []file
	for p, b := range s.Files {
		files = append(files, file{path: p, body: b, group: p})
	}
	for p, l := range s.Links {
		files = append(files, file{path: p, link: l})
	}
	for p, t := range s.HardLinks {
		files = append(files, file{path: p, body: s.Files[t], group: t})
	}
	for p, m := range s.Special {
		files = append(files, file{path: p, mode: m})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	// Hard-link sets share an inode; the payload carries the data once,
	// with the set's last entry (as rpm writes it).
	nlink, last, inode := map[string]uint32{}, map[string]int{}, map[string]uint32{}
	for i, f := range files {
		if f.group != "" {
			nlink[f.group]++
			last[f.group] = i
			if _, ok := inode[f.group]; !ok {
				inode[f.group] = uint32(i + 1)
			}
		}
	}
	var payload bytes.Buffer
	cw := cpio.NewRawWriter(&payload)
	var size uint64
	if len(files) > 0 {
		dirIdx := map[string]uint32{}
		var dirs, bases, digests, links, users, groups, langs []string
		var idx, modes32, mtimes, flags, verify, inodes, devs, rdevs, sizes []uint32
		var modes []uint16
		for i, f := range files {
			d, b := path.Split(f.path)
			if _, ok := dirIdx[d]; !ok {
				dirIdx[d] = uint32(len(dirs))
				dirs = append(dirs, d)
			}
			idx = append(idx, dirIdx[d])
			bases = append(bases, b)
			mode := uint32(0o100644)
			data := []byte(f.body)
			sum := sha256.Sum256(data)
			digest := hex.EncodeToString(sum[:])
			ino, nl := uint32(i+1), uint32(1)
			if f.link != "" {
				mode, data, digest = 0o120777, []byte(f.link), ""
			}
			if f.mode != 0 {
				mode, data, digest = f.mode, nil, ""
			}
			payloadData := data
			if f.group != "" {
				ino, nl = inode[f.group], nlink[f.group]
				if last[f.group] != i {
					payloadData = nil
				}
			}
			modes = append(modes, uint16(mode))
			modes32 = append(modes32, mode)
			sizes = append(sizes, uint32(len(data)))
			size += uint64(len(data))
			digests = append(digests, digest)
			links = append(links, f.link)
			users, groups, langs = append(users, "root"), append(groups, "root"), append(langs, "")
			mtimes = append(mtimes, Epoch)
			flags = append(flags, 0)
			verify = append(verify, 0xffffffff)
			inodes = append(inodes, ino)
			devs = append(devs, 1)
			rdevs = append(rdevs, 0)
			if err := cw.WriteEntry(cpio.Entry{Name: "." + f.path, Ino: ino, Mode: mode, Nlink: nl,
				Mtime: Epoch, Size: uint32(len(payloadData)), DevMajor: 0, DevMinor: 1}, payloadData); err != nil {
				return "", err
			}
		}
		h.SetStrings(rpm.TagDirNames, dirs)
		h.SetStrings(rpm.TagBaseNames, bases)
		h.SetUint32s(rpm.TagDirIndexes, idx...)
		h.SetUint16s(rpm.TagFileModes, modes)
		h.SetUint32s(rpm.TagFileSizes, sizes...)
		h.SetStrings(rpm.TagFileDigests, digests)
		h.SetStrings(rpm.TagFileLinkTos, links)
		h.SetStrings(rpm.TagFileUserName, users)
		h.SetStrings(rpm.TagFileGroupName, groups)
		h.SetStrings(rpm.TagFileLangs, langs)
		h.SetUint32s(rpm.TagFileMtimes, mtimes...)
		h.SetUint32s(rpm.TagFileFlags, flags...)
		h.SetUint32s(rpm.TagFileVerifyFlags, verify...)
		h.SetUint32s(rpm.TagFileInodes, inodes...)
		h.SetUint32s(rpm.TagFileDevices, devs...)
		var rd []uint16
		for range rdevs {
			rd = append(rd, 0)
		}
		h.SetUint16s(rpm.TagFileRdevs, rd)
		h.SetUint32s(rpm.TagFileDigestAlgo, 8)
	}
	if err := cw.Close(); err != nil {
		return "", err
	}
	h.SetUint32s(rpm.TagSize, uint32(size))
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(payload.Bytes())
	zw.Close()
	psum := sha256.Sum256(gz.Bytes())
	h.SetStrings(rpm.TagPayloadDigest, []string{hex.EncodeToString(psum[:])})
	h.SetUint32s(rpm.TagPayloadDigestAlgo, 8)
	hdr := h.MarshalFile()
	sig := rpm.NewSignatureHeader(hdr, gz.Bytes(), uint64(payload.Len()))
	name := fmt.Sprintf("%s-%s-%s.%s.rpm", s.Name, s.Version, s.Release, s.Arch)
	var out bytes.Buffer
	lead := rpm.Lead{Major: 3, Minor: 0, Name: s.Name + "-" + s.Version + "-" + s.Release, OSNum: 1, SigType: 5}
	if err := rpm.WritePackage(&out, lead, sig, hdr, bytes.NewReader(gz.Bytes())); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, out.Bytes(), 0o644)
}

// WriteRepo writes every spec into dir and an unsigned rpm-md repository
// (repodata/) describing them.
func WriteRepo(dir string, specs []Spec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var paths []string
	for _, s := range specs {
		p, err := WriteRPM(dir, s)
		if err != nil {
			return err
		}
		paths = append(paths, p)
	}
	return IndexRepo(dir, paths)
}

// IndexRepo copies rpms into dir (unless already there) and writes an
// unsigned rpm-md repository describing them.
func IndexRepo(dir string, rpms []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var mds []*repodata.Package
	for _, src := range rpms {
		p := filepath.Join(dir, filepath.Base(src))
		raw, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if filepath.Clean(src) != filepath.Clean(p) {
			if err := os.WriteFile(p, raw, 0o644); err != nil {
				return err
			}
		}
		pk, err := rpm.Open(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		md, err := repodata.NewPackage(pk, repodata.FileInfo{Href: filepath.Base(p), Size: int64(len(raw)), Mtime: Epoch, Checksum: hex.EncodeToString(sum[:])})
		if err != nil {
			return err
		}
		mds = append(mds, md)
	}
	rmd, err := repodata.WriteMetadata(filepath.Join(dir, "repodata"), mds, repodata.WriteOptions{Compression: repodata.Gzip, Timestamp: Epoch, NoSync: true})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), rmd.Marshal(), 0o644)
}
