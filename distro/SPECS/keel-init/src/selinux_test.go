package main

import "testing"

func TestParseFileContexts(t *testing.T) {
	fcs, err := parseFileContexts("/.*\tu:r:root_t\n/dev(/.*)?\tu:r:device_t\n/dev/(null|zero)\t-c\tu:r:null_device_t\n/dev/kmsg\t-c\tu:r:kmsg_device_t\n/dev/pts(/.*)?\t<<none>>\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, kind, want string }{
		{"/dev", "-d", "u:r:device_t"},
		{"/dev/null", "-c", "u:r:null_device_t"},
		{"/dev/null", "--", "u:r:device_t"},
		{"/dev/kmsg", "-c", "u:r:kmsg_device_t"},
		{"/dev/vda", "-b", "u:r:device_t"},
		{"/dev/pts/0", "-c", ""},
		{"/devx", "--", "u:r:root_t"},
	} {
		if got := contextFor(fcs, tc.path, tc.kind); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.path, tc.kind, got, tc.want)
		}
	}
	for _, bad := range []string{"/a\n", "/a( u:r:t\n", "/a -c u:r:t x\n"} {
		if _, err := parseFileContexts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseFileContexts(f *testing.F) {
	f.Add("/.*\tu:r:root_t\n/dev(/.*)?\t-c\tu:r:device_t\n")
	f.Add("# c\n/dev/pts(/.*)?\t<<none>>\n")
	f.Fuzz(func(t *testing.T, data string) {
		fcs, err := parseFileContexts(data)
		if err != nil {
			return
		}
		contextFor(fcs, "/dev/null", "-c")
		contextFor(fcs, "/", "-d")
	})
}
