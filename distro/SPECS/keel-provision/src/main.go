// keel-provision provisions a Keel Linux VM at boot from its cloud's
// provisioning media, once per instance id: cloud-init's NoCloud ("cidata"
// volume with meta-data and user-data) or Azure's ovf-env.xml, after which
// it reports Ready to Azure's WireServer. It also makes the SSH host keys on
// the instance: the image carries none.
//
// keel-init runs it before its facts report and before any service starts
// (sshd needs the host keys, a login needs the user). Each result is one
// line "key=<Go-quoted value>" on stdout, which keel-init reports as the
// boot fact provision.<key>. What it could not apply is reported, and the
// boot goes on: bad input never stops a boot and never opens a login.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const stateFile = "/var/lib/keel-provision/instance-id"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	os.Exit(run(ctx, fact))
}

var factKey = regexp.MustCompile(`[^A-Za-z0-9._\[\]-]`)

func fact(key, value string) {
	key = trunc(factKey.ReplaceAllString(key, "_"), 120)
	fmt.Printf("%s=%s\n", key, strconv.Quote(trunc(value, 2048)))
}

func run(ctx context.Context, fact func(k, v string)) int {
	cfg, media, err := discover()
	if err != nil {
		fact("error", err.Error())
	}
	source := "none"
	switch {
	case cfg != nil:
		source = cfg.Source
	case media != nil && media.azure:
		source = "azure"
	case media != nil:
		source = "nocloud"
	}
	fact("source", source)
	prev, _ := os.ReadFile(stateFile)
	newInstance := cfg != nil && strings.TrimSpace(string(prev)) != cfg.InstanceID
	if cfg != nil {
		fact("instance_id", cfg.InstanceID)
	}
	// A new instance gets new host keys (a cloned disk must not share them).
	if newInstance {
		for _, t := range hostKeyTypes {
			os.Remove(hostKeyPath(t))
			os.Remove(hostKeyPath(t) + ".pub")
		}
	}
	hostKeys(fact)
	switch {
	case cfg == nil:
		fact("state", "not provisioned")
	case !newInstance:
		fact("state", "already provisioned")
	default:
		a := &Applier{Root: "/", Chown: true, CheckKey: sshKeygenCheck, Run: runCommand, Fact: fact,
			SetHostname: func(h string) error { return syscall.Sethostname([]byte(h)) }}
		a.Apply(ctx, cfg)
		if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err == nil {
			err = writeFileAtomic(stateFile, []byte(cfg.InstanceID+"\n"), 0o600, -1, -1)
		}
		if err != nil {
			fact("state", "provisioned; recording the instance id failed: "+err.Error())
		} else {
			fact("state", "provisioned")
		}
	}
	// Azure's agents report Ready on every boot, provisioned before or not.
	if media != nil && media.azure {
		gs, err := ReportReady(ctx, WireServer)
		if err != nil {
			fact("azure.ready", "error: "+err.Error())
		} else {
			fact("azure.ready", "reported incarnation="+gs.Incarnation+" container="+gs.ContainerID+" instance="+gs.InstanceID)
		}
	}
	return 0
}

type foundMedia struct {
	vol   Volume
	azure bool
}

// discover finds the provisioning media and parses them. Media found but
// unusable is (nil, media, error).
func discover() (*Config, *foundMedia, error) {
	vols := volumes("/sys/class/block", "/dev")
	for _, v := range vols {
		if (v.FSType == "iso9660" || v.FSType == "vfat") && strings.EqualFold(v.Label, "cidata") {
			m := &foundMedia{vol: v}
			files, errs, err := readFrom(v, "/run/keel-provision/media", "meta-data", "user-data")
			if err != nil {
				return nil, m, err
			}
			for _, n := range []string{"meta-data", "user-data"} {
				if e := errs[n]; e != nil && !(n == "user-data" && errors.Is(e, errNoFile)) {
					return nil, m, fmt.Errorf("NoCloud %s on %s: %v", n, v.Dev, e)
				}
			}
			c, err := ParseNoCloud(files["meta-data"], files["user-data"])
			if err != nil {
				return nil, m, fmt.Errorf("NoCloud on %s: %v", v.Dev, err)
			}
			return c, m, nil
		}
	}
	for _, v := range vols {
		if v.FSType != "iso9660" && v.FSType != "udf" {
			continue
		}
		files, errs, err := readFrom(v, "/run/keel-provision/media", "ovf-env.xml")
		if err != nil || errors.Is(errs["ovf-env.xml"], errNoFile) {
			continue
		}
		m := &foundMedia{vol: v, azure: true}
		if e := errs["ovf-env.xml"]; e != nil {
			return nil, m, fmt.Errorf("ovf-env.xml on %s: %v", v.Dev, e)
		}
		c, err := ParseOVFEnv(files["ovf-env.xml"], azureInstanceID(files["ovf-env.xml"]))
		if err != nil {
			return nil, m, err
		}
		return c, m, nil
	}
	return nil, nil, nil
}

// azureInstanceID is the SMBIOS system UUID, as Azure's agents use; a VM
// without one (QEMU without -uuid) is told apart by its ovf-env.xml.
func azureInstanceID(ovf []byte) string {
	b, err := os.ReadFile("/sys/class/dmi/id/product_uuid")
	id := strings.TrimSpace(string(b))
	if err == nil && id != "" && strings.Trim(id, "0-") != "" {
		return id
	}
	sum := sha256.Sum256(ovf)
	return "ovf-env-" + hex.EncodeToString(sum[:8])
}

var hostKeyTypes = []string{"ed25519", "ecdsa"}

func hostKeyPath(t string) string { return "/etc/ssh/ssh_host_" + t + "_key" }

// hostKeys makes the missing SSH host keys (ed25519 and ecdsa: cheap even
// under emulation; no RSA) and reports each key's fingerprint.
func hostKeys(fact func(k, v string)) {
	if _, err := os.Stat("/usr/bin/ssh-keygen"); err != nil {
		return
	}
	for _, t := range hostKeyTypes {
		p := hostKeyPath(t)
		if _, err := os.Stat(p); err != nil {
			out, err := exec.Command("/usr/bin/ssh-keygen", "-q", "-t", t, "-N", "", "-C", "", "-f", p).CombinedOutput()
			if err != nil {
				fact("hostkey."+t, "error: "+strings.TrimSpace(string(out))+" "+err.Error())
				continue
			}
		}
		out, err := exec.Command("/usr/bin/ssh-keygen", "-l", "-f", p+".pub").Output()
		if f := strings.Fields(string(out)); err == nil && len(f) >= 2 {
			fact("hostkey."+t, f[1])
		} else {
			fact("hostkey."+t, "error: cannot read its fingerprint")
		}
	}
}
