package early

import (
	"testing"

	"github.com/keel-linux/keel/pkg/repo"
)

func TestConstantsMatchRepo(t *testing.T) {
	if lockFile != repo.LockFile || linkName != repo.LinkName {
		t.Fatalf("early has %q/%q, pkg/repo %q/%q", lockFile, linkName, repo.LockFile, repo.LinkName)
	}
}

func TestRepoDir(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"repo", "index", "--dir", "/r"}, "/r"},
		{[]string{"repo", "index", "--unsigned", "--dir=r"}, "r"},
		{[]string{"repo", "publish", "--dir", "/r", "a.rpm"}, "/r"},
		{[]string{"repo", "index"}, ""},                      // default dir: not guessed
		{[]string{"repo", "index", "--dir"}, ""},             // malformed
		{[]string{"repo", "index", "--", "--dir", "/r"}, ""}, // after --: an argument
		{[]string{"repo", "verify", "--dir", "/r"}, ""},
		{[]string{"--json", "repo", "index", "--dir", "/r"}, ""}, // global flags first: not guessed
		{[]string{"specs", "--dir", "/r"}, ""},
		{nil, ""},
	} {
		if got := repoDir(tc.args); got != tc.want {
			t.Errorf("repoDir(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
