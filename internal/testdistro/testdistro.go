// Package testdistro gives tests the real Keel Linux packages: it builds
// distro/ once into the shared test cache (later calls are cache hits) and
// returns the RPM paths.
package testdistro

import (
	"context"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/keel-linux/keel/internal/testenv"
	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
)

var (
	once sync.Once
	rpms []string
	err  error
)

// RPMs builds Keel Linux (cached across test packages and runs) and returns
// every binary RPM, sorted. Skips under -short; fails under CI when the
// build tools or ../shared are missing.
func RPMs(t testing.TB) []string {
	t.Helper()
	testenv.Short(t, "needs the Keel Linux packages (a full build when the test cache is cold)")
	testenv.RequireTool(t, "rpmbuild", "rpmspec", "bwrap", "rpm2cpio", "cpio", "gcc", "go", "dpkg-deb", "depmod")
	testenv.RequireShared(t, "lookaside/SHA256SUMS")
	once.Do(func() {
		var d *distro.Distro
		d, err = distro.Load(filepath.Join(testenv.RepoRoot(), "distro"))
		if err != nil {
			return
		}
		cache := testenv.SharedCache()
		var res *build.Result
		res, err = build.Run(context.Background(), build.Options{
			Distro: d, Cache: cache, Out: filepath.Join(cache, "out"), Offline: true,
		})
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			rpms = append(rpms, p.RPMs...)
		}
		sort.Strings(rpms)
	})
	if err != nil {
		t.Fatalf("building Keel Linux for the test: %v", err)
	}
	return rpms
}
