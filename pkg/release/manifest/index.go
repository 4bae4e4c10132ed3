package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/keel-linux/keel/pkg/atomicfile"
)

// Index is releases/index.json: every release and the pointer per channel.
type Index struct {
	Channels map[string]string `json:"channels"` // channel -> version
	Releases []IndexEntry      `json:"releases"` // oldest first
}

// IndexEntry is one release in the index.
type IndexEntry struct {
	Version  string `json:"version"`
	Date     string `json:"date"`
	Channel  string `json:"channel"` // where it was cut; promotion moves the pointer
	Security bool   `json:"security,omitempty"`
}

// ReadIndex loads dir/index.json; a missing file is an empty index.
func ReadIndex(dir string) (*Index, error) {
	idx := &Index{Channels: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, IndexFile), err)
	}
	if idx.Channels == nil {
		idx.Channels = map[string]string{}
	}
	return idx, nil
}

// Latest is the newest release (any channel), or nil.
func (idx *Index) Latest() *IndexEntry {
	if len(idx.Releases) == 0 {
		return nil
	}
	return &idx.Releases[len(idx.Releases)-1]
}

// Find returns the entry for a version.
func (idx *Index) Find(version string) *IndexEntry {
	for i := range idx.Releases {
		if idx.Releases[i].Version == version {
			return &idx.Releases[i]
		}
	}
	return nil
}

// Write replaces dir/index.json atomically, releases sorted by date.
func (idx *Index) Write(dir string) error {
	sort.SliceStable(idx.Releases, func(i, j int) bool { return idx.Releases[i].Date < idx.Releases[j].Date })
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, IndexFile), append(data, '\n'), 0o644)
}
