// Package testenv lets tests that drive real host tools (rpmbuild, dnf, qemu,
// veritysetup, ...) say what they need. Under CI (CI=true) a missing tool is a
// failure, because scripts/setup must have installed it; on a developer's
// machine the test is skipped with the command that installs it.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireTool fails (CI) or skips (elsewhere) the test when a command is missing.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed; scripts/setup must install it", n)
			}
			t.Skipf("%s not installed; run scripts/setup", n)
		}
	}
}

// Missing fails (CI) or skips (elsewhere) a test whose host, or ../shared,
// lacks something it needs that RequireTool and RequireShared cannot name:
// a kind of /bin/sh, a file under a shared directory, a module download.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Short skips expensive tests (boots, full builds) under `go test -short`.
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: " + why)
	}
}

// Long skips a test unless KEEL_TEST_LONG=1 (`make test-long`): suites too
// slow for CI's `make test` budget (attack matrices, second boot modes,
// benchmark-sized fixtures) that must still pass before an issue is resolved.
func Long(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("KEEL_TEST_LONG") != "1" {
		t.Skip("long suite (make test-long): " + why)
	}
}

// RepoRoot is the repository's top directory (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Shared is ../shared beside the repository (lookaside, OVAL snapshots, ...).
// Tests that need it call RequireShared.
func Shared() string { return filepath.Join(RepoRoot(), "..", "shared") }

// RequireShared returns the path of a file under ../shared, failing (CI) or
// skipping (elsewhere) when it is absent.
func RequireShared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Shared(), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "%s missing: CI runs with shared/ beside the clone", p)
	}
	return p
}

// SharedCache is a Keel cache directory shared by every test package of a
// run (and kept between runs): content-addressed, so sharing is safe, and
// the build lock serialises concurrent builds. $KEEL_TEST_CACHE overrides.
func SharedCache() string {
	if c := os.Getenv("KEEL_TEST_CACHE"); c != "" {
		return c
	}
	return filepath.Join(os.TempDir(), "keel-test-cache")
}
