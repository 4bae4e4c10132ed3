package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-linux/keel/pkg/scaffold"
)

// Completion offers the tree's package and image names (cobra's hidden
// __complete command is what the shell scripts call).
func TestDynamicCompletion(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "acme")
	if err := scaffold.Init(tree, scaffold.Options{Name: "acme", Version: "2"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"build", ""}, []string{"acme-release", "acme-rpm-macros", "example"}, nil},
		{[]string{"build", "acme-r"}, []string{"acme-release", "acme-rpm-macros"}, []string{"example"}},
		{[]string{"build", "example", ""}, []string{"acme-release"}, []string{"example"}},
		{[]string{"image", "build", ""}, []string{"base"}, nil},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"__complete", "-C", tree}, c.args...), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errb.String())
		}
		lines := strings.Split(out.String(), "\n")
		for _, w := range c.want {
			if !contains(lines, w) {
				t.Errorf("%v: no %q in %q", c.args, w, out.String())
			}
		}
		for _, n := range c.not {
			if contains(lines, n) {
				t.Errorf("%v: %q offered", c.args, n)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
