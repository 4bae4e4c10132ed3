// Package distro embeds Keel Linux's source tree (keel.yaml, SPECS, images,
// advisories) so that the keel binary works on it from anywhere.
package distro

import "embed"

// FS is this directory as shipped inside keel.
//
//go:embed *
var FS embed.FS
