package main

// The image's boot-time configuration, /etc/keel/init.json, written by
// `keel image build` from the definition's modules:, modules_disabled:,
// firewall: and services: keys (pkg/image/initconfig.go), and the order
// keel-init applies it in: modules, sysctl, firewall, network, services —
// so nothing listens before the firewall is up.

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
)

const initConfigPath = "/etc/keel/init.json"

type initConfig struct {
	Modules         []string        `json:"modules"`
	ModulesDisabled bool            `json:"modules_disabled"`
	Firewall        *firewallConfig `json:"firewall"`
	Services        []serviceConfig `json:"services"`
}

// loadInitConfig reads init.json; none is an empty configuration. A file
// that does not parse is reported and nothing of it is applied, except
// that the firewall then drops all input: a broken definition must never
// leave the machine open.
func loadInitConfig() (initConfig, error) {
	var c initConfig
	b, err := os.ReadFile(initConfigPath)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err
}

// bootSystem brings the machine up before the facts are reported; it
// returns the supervisor, whose state is reported with the facts.
func bootSystem() *supervisor {
	c, err := loadInitConfig()
	if err != nil {
		fact("init.config", "error: "+err.Error())
		c = initConfig{Firewall: &firewallConfig{Input: "drop"}}
	} else {
		fact("init.config", "ok")
	}
	loaded, failed := loadModulesByName(c.Modules)
	fact("modules.loaded", strconv.Itoa(loaded))
	if len(failed) > 0 {
		fact("modules.failed", joinSorted(failed))
	}
	applySysctl()
	mark("sysctl")
	fwOK := setupFirewall(c.Firewall)
	mark("firewall")
	setupNetwork()
	mark("network")
	provision() // provision.go: host name, users, SSH host keys before any service
	mark("provision")
	if !fwOK && len(c.Services) > 0 {
		fact("services", "not started: the firewall did not load")
		c.Services = nil
	}
	sv := startServices(c.Services)
	mark("services")
	if c.ModulesDisabled {
		// Once the image's modules are in, no more can be loaded: a
		// compromised service cannot insert kernel code.
		if err := os.WriteFile("/proc/sys/kernel/modules_disabled", []byte("1"), 0); err != nil {
			fact("modules.disabled", "error: "+errText(err))
		}
	}
	fact("sysctl.kernel.modules_disabled", readTrim("/proc/sys/kernel/modules_disabled"))
	return sv
}
