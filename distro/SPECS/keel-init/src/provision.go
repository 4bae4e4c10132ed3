package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// provisionProg is shipped by the keel-provision package (the vm image).
var provisionProg = "/usr/libexec/keel/keel-provision"

// maxProvisionFacts bounds what hostile provisioning data can put on the
// console through keel-provision.
const maxProvisionFacts = 256

var provisionKey = regexp.MustCompile(`^[A-Za-z0-9._\[\]-]{1,120}$`)

// provision runs keel-provision, when the image has it, before the facts
// report and before any service starts: the host name, users and SSH host
// keys it makes must exist before sshd runs. It is a separate program so
// that PID 1 and the initramfs carry no YAML, XML or HTTP code, and a crash
// on hostile user-data is an exit status, not a dead init. Each stdout line
// "key=<Go-quoted value>" becomes the fact provision.<key>.
func provision() {
	if _, err := os.Stat(provisionProg); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, provisionProg)
	cmd.Env = []string{"PATH=/usr/bin:/usr/sbin"}
	cmd.Dir = "/"
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fact("provision.exit", "-1: "+err.Error())
		return
	}
	if err := cmd.Start(); err != nil {
		fact("provision.exit", "-1: "+err.Error())
		return
	}
	n, bad := 0, 0
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		k, q, ok := strings.Cut(sc.Text(), "=")
		v, err := strconv.Unquote(q)
		if !ok || err != nil || !provisionKey.MatchString(k) {
			bad++
			continue
		}
		if n++; n <= maxProvisionFacts {
			fact("provision."+k, v)
		}
	}
	code := exitStatus(cmd.Wait())
	if n > maxProvisionFacts {
		fact("provision.dropped", strconv.Itoa(n-maxProvisionFacts))
	}
	if bad > 0 {
		fact("provision.malformed", strconv.Itoa(bad))
	}
	fact("provision.exit", strconv.Itoa(code))
	mark("provision")
}

// exitStatus is a finished command's exit status; -1 when it did not run
// or was killed.
func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		return -1
	}
	return 0
}
