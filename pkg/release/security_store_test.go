package release

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/release/manifest"
)

// TestNoAdvisoryStore: a tree without an advisory store fails the security
// stage instead of passing the CVE gate on no data.
func TestNoAdvisoryStore(t *testing.T) {
	d := &distro.Distro{Dir: t.TempDir()}
	err := securityStage(context.Background(), t.TempDir(), &manifest.Manifest{}, d, time.Unix(1700000000, 0))
	if err == nil || !strings.Contains(err.Error(), "no advisory store at "+d.Dir+"/advisories") {
		t.Fatalf("err = %v", err)
	}
}
