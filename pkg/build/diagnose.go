package build

import (
	"fmt"
	"regexp"
)

// Builds run offline (no network in the sandbox, GOPROXY=off for Go). A build
// that reaches for the network fails deep in its log with the tool's own
// words; these patterns turn the common ones into one line with the way out.
var (
	goVendorMissing = regexp.MustCompile(`cannot find module providing package (\S+): import lookup disabled by -mod=vendor`)
	goProxyOff      = regexp.MustCompile(`(\S+@\S+): module lookup disabled by GOPROXY=off`)
	netDial         = regexp.MustCompile(`(?:dial tcp|lookup \S+ on|Could not resolve host|Temporary failure in name resolution|Network is unreachable)`)
)

// diagnose explains a failed build from its log, or returns "".
func diagnose(pkg, log string) string {
	if m := goVendorMissing.FindStringSubmatch(log); m != nil {
		return fmt.Sprintf("package %s imports Go package %s, which is not in its vendor tarball (the build is offline: -mod=vendor, GOPROXY=off); run `keel sources vendor %s` after changing the module's requirements", pkg, m[1], pkg)
	}
	if m := goProxyOff.FindStringSubmatch(log); m != nil {
		return fmt.Sprintf("package %s tried to download Go module %s during the build (GOPROXY=off: builds are offline); vendor it with `keel sources vendor %s` and build with %%goenv (-mod=vendor)", pkg, m[1], pkg)
	}
	if netDial.MatchString(log) {
		return fmt.Sprintf("package %s tried the network during its build; builds run without network: pin what it fetches as a source (`keel sources pin %s`, or `keel sources vendor %s` for Go modules)", pkg, pkg, pkg)
	}
	return ""
}
