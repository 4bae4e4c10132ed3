package rpm

// Type is a header entry's data type (rpm's rpmTagType).
type Type uint32

// Header data types, as numbered in rpm's header format.
const (
	TypeNull        Type = 0
	TypeChar        Type = 1
	TypeInt8        Type = 2
	TypeInt16       Type = 3
	TypeInt32       Type = 4
	TypeInt64       Type = 5
	TypeString      Type = 6
	TypeBin         Type = 7
	TypeStringArray Type = 8
	TypeI18NString  Type = 9
)

// Tag identifies a header entry (rpm's rpmTag / rpmSigTag).
type Tag int32

// Region tags and main-header tags (numbers from rpm's rpmtag.h).
const (
	TagHeaderImage      Tag = 61
	TagHeaderSignatures Tag = 62
	TagHeaderImmutable  Tag = 63
	TagHeaderI18NTable  Tag = 100

	TagName              Tag = 1000
	TagVersion           Tag = 1001
	TagRelease           Tag = 1002
	TagEpoch             Tag = 1003
	TagSummary           Tag = 1004
	TagDescription       Tag = 1005
	TagBuildTime         Tag = 1006
	TagBuildHost         Tag = 1007
	TagInstallTime       Tag = 1008
	TagSize              Tag = 1009
	TagDistribution      Tag = 1010
	TagVendor            Tag = 1011
	TagLicense           Tag = 1014
	TagPackager          Tag = 1015
	TagGroup             Tag = 1016
	TagURL               Tag = 1020
	TagOS                Tag = 1021
	TagArch              Tag = 1022
	TagPreIn             Tag = 1023
	TagPostIn            Tag = 1024
	TagPreUn             Tag = 1025
	TagPostUn            Tag = 1026
	TagOldFilenames      Tag = 1027
	TagFileSizes         Tag = 1028
	TagFileStates        Tag = 1029
	TagFileModes         Tag = 1030
	TagFileRdevs         Tag = 1033
	TagFileMtimes        Tag = 1034
	TagFileDigests       Tag = 1035
	TagFileLinkTos       Tag = 1036
	TagFileFlags         Tag = 1037
	TagFileUserName      Tag = 1039
	TagFileGroupName     Tag = 1040
	TagSourceRPM         Tag = 1044
	TagFileVerifyFlags   Tag = 1045
	TagArchiveSize       Tag = 1046
	TagProvideName       Tag = 1047
	TagRequireFlags      Tag = 1048
	TagRequireName       Tag = 1049
	TagRequireVersion    Tag = 1050
	TagConflictFlags     Tag = 1053
	TagConflictName      Tag = 1054
	TagConflictVersion   Tag = 1055
	TagRPMVersion        Tag = 1064
	TagChangelogTime     Tag = 1080
	TagChangelogName     Tag = 1081
	TagChangelogText     Tag = 1082
	TagPreInProg         Tag = 1085
	TagPostInProg        Tag = 1086
	TagPreUnProg         Tag = 1087
	TagPostUnProg        Tag = 1088
	TagObsoleteName      Tag = 1090
	TagCookie            Tag = 1094
	TagFileDevices       Tag = 1095
	TagFileInodes        Tag = 1096
	TagFileLangs         Tag = 1097
	TagPrefixes          Tag = 1098
	TagProvideFlags      Tag = 1112
	TagProvideVersion    Tag = 1113
	TagObsoleteFlags     Tag = 1114
	TagObsoleteVersion   Tag = 1115
	TagDirIndexes        Tag = 1116
	TagBaseNames         Tag = 1117
	TagDirNames          Tag = 1118
	TagOptFlags          Tag = 1122
	TagPayloadFormat     Tag = 1124
	TagPayloadCompressor Tag = 1125
	TagPayloadFlags      Tag = 1126
	TagInstallColor      Tag = 1127
	TagInstallTID        Tag = 1128
	TagFileColors        Tag = 1140
	TagFileClass         Tag = 1141
	TagClassDict         Tag = 1142
	TagFileDependsX      Tag = 1143
	TagFileDependsN      Tag = 1144
	TagDependsDict       Tag = 1145
	TagSourcePkgID       Tag = 1146
	TagLongFileSizes     Tag = 5008
	TagLongSize          Tag = 5009
	TagFileCaps          Tag = 5010
	TagFileDigestAlgo    Tag = 5011
	TagBugURL            Tag = 5012
	TagRecommendName     Tag = 5046
	TagRecommendVersion  Tag = 5047
	TagRecommendFlags    Tag = 5048
	TagSuggestName       Tag = 5049
	TagSuggestVersion    Tag = 5050
	TagSuggestFlags      Tag = 5051
	TagSupplementName    Tag = 5052
	TagSupplementVersion Tag = 5053
	TagSupplementFlags   Tag = 5054
	TagEnhanceName       Tag = 5055
	TagEnhanceVersion    Tag = 5056
	TagEnhanceFlags      Tag = 5057
	TagEncoding          Tag = 5062
	TagPayloadDigest     Tag = 5092
	TagPayloadDigestAlgo Tag = 5093
)

// Signature-header tags.
const (
	SigTagDSA             Tag = 267 // OpenPGP DSA/EdDSA signature of the header
	SigTagRSA             Tag = 268 // OpenPGP RSA signature of the header
	SigTagSHA1            Tag = 269 // hex SHA-1 of the header
	SigTagLongSize        Tag = 270
	SigTagLongArchiveSize Tag = 271
	SigTagSHA256          Tag = 273  // hex SHA-256 of the header
	SigTagSize            Tag = 1000 // header+payload size
	SigTagPGP             Tag = 1002 // OpenPGP RSA signature of header+payload
	SigTagMD5             Tag = 1004 // MD5 of header+payload
	SigTagGPG             Tag = 1005 // OpenPGP DSA signature of header+payload
	SigTagPayloadSize     Tag = 1007 // uncompressed payload size
	SigTagReservedSpace   Tag = 1008
)

// Dependency sense flags (rpmsenseFlags).
const (
	SenseAny        uint32 = 0
	SenseLess       uint32 = 1 << 1
	SenseGreater    uint32 = 1 << 2
	SenseEqual      uint32 = 1 << 3
	SensePrereq     uint32 = 1 << 6
	SenseInterp     uint32 = 1 << 8
	SenseScriptPre  uint32 = 1 << 9
	SenseScriptPost uint32 = 1 << 10
	SenseRpmlib     uint32 = 1 << 24
	SenseSenseMask  uint32 = SenseLess | SenseGreater | SenseEqual
)

// File flags (rpmfileAttrs).
const (
	FileConfig    uint32 = 1 << 0
	FileDoc       uint32 = 1 << 1
	FileMissingOK uint32 = 1 << 3
	FileNoReplace uint32 = 1 << 4
	FileGhost     uint32 = 1 << 6
	FileLicense   uint32 = 1 << 7
	FileReadme    uint32 = 1 << 8
	FileArtifact  uint32 = 1 << 12
)
