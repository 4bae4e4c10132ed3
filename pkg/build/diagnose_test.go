package build

import (
	"strings"
	"testing"
)

func TestDiagnose(t *testing.T) {
	for _, tc := range []struct{ name, log, want string }{
		{"vendor missing", "main.go:5:2: cannot find module providing package github.com/acme/x: import lookup disabled by -mod=vendor\n", "Go package github.com/acme/x, which is not in its vendor tarball"},
		{"proxy off", "go: github.com/acme/x@v1.2.3: module lookup disabled by GOPROXY=off\n", "tried to download Go module github.com/acme/x@v1.2.3"},
		{"dial", "curl: (6) Could not resolve host: example.org\n", "tried the network"},
		{"go dial", "Get \"https://proxy\": dial tcp: lookup proxy on 127.0.0.53:53: no such host\n", "tried the network"},
		{"unrelated", "make: *** [all] Error 2\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnose("ctr", tc.log)
			if tc.want == "" {
				if got != "" {
					t.Fatalf("diagnose = %q, want nothing", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) || !strings.Contains(got, "keel sources") {
				t.Fatalf("diagnose = %q, want it to contain %q and the way out", got, tc.want)
			}
		})
	}
}
