package spec

// CheckAgainstRpmspec lets the external test package (which may import
// pipeline packages such as pkg/distro) run the rpmspec oracle.
var CheckAgainstRpmspec = checkAgainstRpmspec
