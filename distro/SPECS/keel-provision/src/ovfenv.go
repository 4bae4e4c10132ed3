package main

// Azure's provisioning media: ovf-env.xml on a CD-ROM (UDF or ISO 9660).
// Keel applies the Linux provisioning configuration set's HostName,
// UserName and SSH public keys; the provisioned user gets a nopass doas
// rule (Azure's agents give it NOPASSWD sudo when it has no password).

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// maxXML bounds the XML documents read (ovf-env.xml, the goal state).
const maxXML = 1 << 20

type ovfEnvironment struct {
	XMLName      xml.Name `xml:"Environment"`
	Provisioning struct {
		Linux []ovfLinux `xml:"LinuxProvisioningConfigurationSet"`
	} `xml:"ProvisioningSection"`
}

type ovfLinux struct {
	ConfigurationSetType             string
	HostName                         string
	UserName                         string
	UserPassword                     *string
	DisableSshPasswordAuthentication string
	CustomData                       *string
	SSH                              struct {
		PublicKeys []struct {
			Fingerprint string
			Path        string
			Value       string
		} `xml:"PublicKeys>PublicKey"`
		KeyPairs []struct {
			Fingerprint string
		} `xml:"KeyPairs>KeyPair"`
	}
}

// ParseOVFEnv reads ovf-env.xml. instanceID comes from elsewhere (the
// SMBIOS system UUID, as Azure's agents use): the file carries none.
func ParseOVFEnv(b []byte, instanceID string) (*Config, error) {
	if len(b) > maxXML {
		return nil, fmt.Errorf("ovf-env.xml: larger than 1 MiB")
	}
	var env ovfEnvironment
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&env); err != nil {
		return nil, fmt.Errorf("ovf-env.xml: not a valid OVF environment: %v", err)
	}
	if len(env.Provisioning.Linux) != 1 {
		return nil, fmt.Errorf("ovf-env.xml: want one LinuxProvisioningConfigurationSet in ProvisioningSection, found %d", len(env.Provisioning.Linux))
	}
	l := env.Provisioning.Linux[0]
	c := &Config{Source: "azure", InstanceID: instanceID}
	if t := strings.TrimSpace(l.ConfigurationSetType); t != "LinuxProvisioningConfiguration" {
		c.note("ovf-env.ConfigurationSetType", "%q, want LinuxProvisioningConfiguration", trunc(t, 60))
	}
	if h := strings.TrimSpace(l.HostName); h != "" {
		if validHostname(h) {
			c.Hostname = h
		} else {
			c.note("ovf-env.HostName", "%q is not a valid host name: ignored", trunc(h, 80))
		}
	}
	if l.UserPassword != nil {
		c.note("ovf-env.UserPassword", "refused: Keel users have no password (the value is not reported)")
	}
	if v := strings.ToLower(strings.TrimSpace(l.DisableSshPasswordAuthentication)); v == "false" {
		c.note("ovf-env.DisableSshPasswordAuthentication", "false refused: Keel's sshd accepts public keys only")
	}
	if l.CustomData != nil && strings.TrimSpace(*l.CustomData) != "" {
		c.note("ovf-env.CustomData", "not supported: ignored")
	}
	if len(l.SSH.KeyPairs) > 0 {
		c.note("ovf-env.SSH.KeyPairs", "not supported (needs the WireServer's certificates): ignored")
	}
	name := strings.TrimSpace(l.UserName)
	if !userName.MatchString(name) {
		c.note("ovf-env.UserName", "%q is not a valid user name: no user created", trunc(name, 40))
		return c, nil
	}
	u := User{Name: name, Doas: true}
	for i, k := range l.SSH.PublicKeys {
		key := fmt.Sprintf("ovf-env.SSH.PublicKeys[%d]", i)
		if strings.TrimSpace(k.Value) == "" {
			c.note(key, "a key by fingerprint only (needs the WireServer's certificates): not supported")
			continue
		}
		if p := strings.TrimSpace(k.Path); p != "" && p != "/home/"+name+"/.ssh/authorized_keys" {
			c.note(key+".Path", "%q: keys go to the user's ~/.ssh/authorized_keys", trunc(p, 80))
		}
		line, why := keyLine(k.Value)
		if why != "" {
			c.note(key, "rejected: %s", why)
			continue
		}
		u.Keys = append(u.Keys, line)
	}
	c.Users = []User{u}
	return c, nil
}
