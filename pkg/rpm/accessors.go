package rpm

import (
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Name is the package name.
func (h *Header) Name() string { return h.String(TagName) }

// Version is the package version.
func (h *Header) Version() string { return h.String(TagVersion) }

// Release is the package release.
func (h *Header) Release() string { return h.String(TagRelease) }

// Epoch is the package epoch and whether the tag is present.
func (h *Header) Epoch() (int, bool) {
	v, ok := h.Uint64(TagEpoch)
	return int(v), ok
}

// EVR is the package's epoch:version-release.
func (h *Header) EVR() EVR {
	e, _ := h.Epoch()
	return EVR{Epoch: e, Version: h.Version(), Release: h.Release()}
}

// IsSource reports a source package (no SOURCERPM tag, as rpm decides).
func (h *Header) IsSource() bool { return !h.Has(TagSourceRPM) }

// Arch is the package architecture; "src" for source packages.
func (h *Header) Arch() string {
	if h.IsSource() {
		return "src"
	}
	return h.String(TagArch)
}

// NEVRA is name-[epoch:]version-release.arch.
func (h *Header) NEVRA() string {
	return h.Name() + "-" + h.EVR().String() + "." + h.Arch()
}

// SourceRPM names the source package this binary package was built from.
func (h *Header) SourceRPM() string { return h.String(TagSourceRPM) }

// Summary is the one-line summary (C locale).
func (h *Header) Summary() string { return h.String(TagSummary) }

// Description is the long description (C locale).
func (h *Header) Description() string { return h.String(TagDescription) }

// License is the license expression.
func (h *Header) License() string { return h.String(TagLicense) }

// URL is the upstream URL.
func (h *Header) URL() string { return h.String(TagURL) }

// Vendor is the vendor.
func (h *Header) Vendor() string { return h.String(TagVendor) }

// Group is the (legacy) group.
func (h *Header) Group() string { return h.String(TagGroup) }

// Packager is the packager.
func (h *Header) Packager() string { return h.String(TagPackager) }

// BuildHost is the build host name.
func (h *Header) BuildHost() string { return h.String(TagBuildHost) }

// BuildTime is when the package was built.
func (h *Header) BuildTime() time.Time {
	v, _ := h.Uint64(TagBuildTime)
	return time.Unix(int64(v), 0).UTC()
}

// Size is the installed size in bytes.
func (h *Header) Size() uint64 {
	if v, ok := h.Uint64(TagLongSize); ok {
		return v
	}
	v, _ := h.Uint64(TagSize)
	return v
}

// ArchiveSize is the uncompressed payload size in bytes, when recorded.
func (h *Header) ArchiveSize() uint64 {
	v, _ := h.Uint64(TagArchiveSize)
	return v
}

// Dependency is one provides/requires/... entry.
type Dependency struct {
	Name  string
	Flags uint32 // Sense* bits
	EVR   EVR    // zero when unversioned
}

// Versioned reports whether the dependency carries a version bound.
func (d Dependency) Versioned() bool { return d.Flags&SenseSenseMask != 0 && d.EVR.Version != "" }

// Relation is the comparison as repodata spells it: EQ, LT, GT, LE, GE or "".
func (d Dependency) Relation() string {
	switch d.Flags & SenseSenseMask {
	case SenseEqual:
		return "EQ"
	case SenseLess:
		return "LT"
	case SenseGreater:
		return "GT"
	case SenseLess | SenseEqual:
		return "LE"
	case SenseGreater | SenseEqual:
		return "GE"
	}
	return ""
}

// Pre reports a dependency needed before install (Requires(pre/post), PreReq).
func (d Dependency) Pre() bool {
	return d.Flags&(SensePrereq|SenseScriptPre|SenseScriptPost) != 0
}

// String renders "name >= evr" as rpm prints it.
func (d Dependency) String() string {
	if !d.Versioned() {
		return d.Name
	}
	op := map[string]string{"EQ": "=", "LT": "<", "GT": ">", "LE": "<=", "GE": ">="}[d.Relation()]
	return d.Name + " " + op + " " + d.EVR.String()
}

func (h *Header) deps(nameTag, flagsTag, verTag Tag) []Dependency {
	names := h.Strings(nameTag)
	flags := h.Uint32s(flagsTag)
	vers := h.Strings(verTag)
	out := make([]Dependency, 0, len(names))
	for i, n := range names {
		d := Dependency{Name: n}
		if i < len(flags) {
			d.Flags = flags[i]
		}
		if i < len(vers) && vers[i] != "" {
			if e, err := ParseEVR(vers[i]); err == nil {
				d.EVR = e
			} else {
				d.EVR = EVR{Version: vers[i]}
			}
		}
		out = append(out, d)
	}
	return out
}

// Provides lists the package's provides.
func (h *Header) Provides() []Dependency {
	return h.deps(TagProvideName, TagProvideFlags, TagProvideVersion)
}

// Requires lists the package's requires (rpmlib() ones included).
func (h *Header) Requires() []Dependency {
	return h.deps(TagRequireName, TagRequireFlags, TagRequireVersion)
}

// Conflicts lists the package's conflicts.
func (h *Header) Conflicts() []Dependency {
	return h.deps(TagConflictName, TagConflictFlags, TagConflictVersion)
}

// Obsoletes lists the package's obsoletes.
func (h *Header) Obsoletes() []Dependency {
	return h.deps(TagObsoleteName, TagObsoleteFlags, TagObsoleteVersion)
}

// Recommends lists weak forward dependencies.
func (h *Header) Recommends() []Dependency {
	return h.deps(TagRecommendName, TagRecommendFlags, TagRecommendVersion)
}

// Suggests lists the package's suggests.
func (h *Header) Suggests() []Dependency {
	return h.deps(TagSuggestName, TagSuggestFlags, TagSuggestVersion)
}

// Supplements lists the package's supplements.
func (h *Header) Supplements() []Dependency {
	return h.deps(TagSupplementName, TagSupplementFlags, TagSupplementVersion)
}

// Enhances lists the package's enhances.
func (h *Header) Enhances() []Dependency {
	return h.deps(TagEnhanceName, TagEnhanceFlags, TagEnhanceVersion)
}

// File is one entry of the package's file list.
type File struct {
	Path   string
	Size   uint64
	Mode   uint32 // st_mode, type bits included
	Rdev   uint32
	Mtime  uint32
	Digest string // hex, algorithm per Header.FileDigestAlgo
	LinkTo string
	Flags  uint32 // File* bits
	User   string
	Group  string
	Inode  uint32
	Device uint32
	Lang   string
	Caps   string
}

// FileMode converts Mode to an io/fs mode.
func (f File) FileMode() fs.FileMode { return unixMode(f.Mode) }

// IsDir reports a directory entry.
func (f File) IsDir() bool { return f.Mode&0o170000 == 0o040000 }

// IsGhost reports a %ghost file (listed, not in the payload).
func (f File) IsGhost() bool { return f.Flags&FileGhost != 0 }

func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// FileDigestAlgo is the OpenPGP hash number of the file digests (1 MD5, 8 SHA-256).
func (h *Header) FileDigestAlgo() int {
	if v, ok := h.Uint64(TagFileDigestAlgo); ok {
		return int(v)
	}
	return 1
}

// FilePaths lists file paths without the rest of the metadata.
func (h *Header) FilePaths() ([]string, error) {
	if old := h.Strings(TagOldFilenames); old != nil {
		return old, nil
	}
	base := h.Strings(TagBaseNames)
	dirs := h.Strings(TagDirNames)
	idx := h.Uint32s(TagDirIndexes)
	if len(idx) != len(base) {
		return nil, fmt.Errorf("%s: %d basenames but %d dir indexes", h.NEVRA(), len(base), len(idx))
	}
	out := make([]string, len(base))
	for i, b := range base {
		if int(idx[i]) >= len(dirs) {
			return nil, fmt.Errorf("%s: file %q: dir index %d out of %d dirnames", h.NEVRA(), b, idx[i], len(dirs))
		}
		out[i] = dirs[idx[i]] + b
	}
	return out, nil
}

// Files lists the package's files with their metadata. Arrays shorter than
// the file list (hostile or old headers) leave fields zero.
func (h *Header) Files() ([]File, error) {
	paths, err := h.FilePaths()
	if err != nil {
		return nil, err
	}
	sizes := h.Uint64s(TagLongFileSizes)
	if sizes == nil {
		sizes = h.Uint64s(TagFileSizes)
	}
	modes := h.Uint32s(TagFileModes)
	rdevs := h.Uint32s(TagFileRdevs)
	mtimes := h.Uint32s(TagFileMtimes)
	digests := h.Strings(TagFileDigests)
	links := h.Strings(TagFileLinkTos)
	flags := h.Uint32s(TagFileFlags)
	users := h.Strings(TagFileUserName)
	groups := h.Strings(TagFileGroupName)
	inodes := h.Uint32s(TagFileInodes)
	devs := h.Uint32s(TagFileDevices)
	langs := h.Strings(TagFileLangs)
	caps := h.Strings(TagFileCaps)
	files := make([]File, len(paths))
	for i, p := range paths {
		f := File{Path: p}
		if i < len(sizes) {
			f.Size = sizes[i]
		}
		if i < len(modes) {
			f.Mode = modes[i] & 0xffff
		}
		if i < len(rdevs) {
			f.Rdev = rdevs[i]
		}
		if i < len(mtimes) {
			f.Mtime = mtimes[i]
		}
		if i < len(digests) {
			f.Digest = digests[i]
		}
		if i < len(links) {
			f.LinkTo = links[i]
		}
		if i < len(flags) {
			f.Flags = flags[i]
		}
		if i < len(users) {
			f.User = users[i]
		}
		if i < len(groups) {
			f.Group = groups[i]
		}
		if i < len(inodes) {
			f.Inode = inodes[i]
		}
		if i < len(devs) {
			f.Device = devs[i]
		}
		if i < len(langs) {
			f.Lang = langs[i]
		}
		if i < len(caps) {
			f.Caps = caps[i]
		}
		files[i] = f
	}
	return files, nil
}

// ChangelogEntry is one %changelog entry.
type ChangelogEntry struct {
	Time   time.Time
	Author string
	Text   string
}

// Changelog lists the changelog, newest first as stored.
func (h *Header) Changelog() []ChangelogEntry {
	times := h.Uint64s(TagChangelogTime)
	names := h.Strings(TagChangelogName)
	texts := h.Strings(TagChangelogText)
	n := min(len(times), len(names), len(texts))
	out := make([]ChangelogEntry, n)
	for i := range n {
		out[i] = ChangelogEntry{Time: time.Unix(int64(times[i]), 0).UTC(), Author: names[i], Text: texts[i]}
	}
	return out
}

// Filename is the canonical file name: name-version-release.arch.rpm.
func (h *Header) Filename() string {
	return strings.Join([]string{h.Name(), h.Version(), h.Release()}, "-") + "." + h.Arch() + ".rpm"
}
