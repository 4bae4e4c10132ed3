package release

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/release/render"
)

// Promote points channel at an existing release without rebuilding it.
func Promote(dir, version, channel string) error {
	if channel != "stable" && channel != "preview" {
		return fmt.Errorf("channel %q: want preview or stable", channel)
	}
	idx, err := manifest.ReadIndex(dir)
	if err != nil {
		return err
	}
	if idx.Find(version) == nil {
		return fmt.Errorf("no release %s in %s", version, filepath.Join(dir, manifest.IndexFile))
	}
	if _, err := os.Stat(filepath.Join(dir, version, manifest.ManifestFile)); err != nil {
		return fmt.Errorf("release %s: %w", version, err)
	}
	if cur := idx.Channels[channel]; cur != "" && cur > version {
		return fmt.Errorf("%s already points at the newer %s", channel, cur)
	}
	idx.Channels[channel] = version
	if err := idx.Write(dir); err != nil {
		return err
	}
	return render.WriteDashboard(dir)
}
