package main

import (
	"regexp"
	"strings"
)

// Config is what one provisioning source asks of the instance, in the
// subset Keel applies. Everything else the source said is a Note: reported
// as a boot fact, never silently dropped.
type Config struct {
	Source     string // "nocloud" or "azure"
	InstanceID string
	Hostname   string
	Users      []User
	WriteFiles []WriteFile
	RunCmd     []Command
	Notes      []Note
}

// User is a login account: key-only, no password.
type User struct {
	Name  string
	Gecos string
	Shell string   // "" = /bin/sh
	Keys  []string // authorized_keys lines, checked by ssh-keygen before use
	// Doas: a "permit nopass USER as root" rule (cloud-init's
	// "ALL=(ALL) NOPASSWD:ALL", Azure's provisioned user).
	Doas bool
}

// WriteFile is one cloud-config write_files entry.
type WriteFile struct {
	Path    string
	Content []byte
	Mode    uint32 // permissions; 0644 when not given
	Owner   string // "user" or "user:group"; "" = root:root
	Append  bool
}

// Command is one runcmd entry: Shell runs through /bin/sh -c, else Argv.
type Command struct {
	Shell string
	Argv  []string
}

// Note is one thing the source asked for that was not applied as asked:
// Key names where (e.g. "user-data.users[0].passwd"), Value says why.
type Note struct {
	Key, Value string
}

func (c *Config) note(key, format string, a ...any) {
	c.Notes = append(c.Notes, Note{key, sprintf(format, a...)})
}

var (
	userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	// RFC 1123 labels; the kernel's limit is 64 bytes.
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// The one sudo rule with a doas equivalent that needs no password.
	nopassAll = regexp.MustCompile(`^ALL\s*=\s*\(\s*ALL\s*(:\s*ALL\s*)?\)\s*NOPASSWD\s*:\s*ALL$`)
)

// validHostname accepts a host name or FQDN of RFC 1123 labels, at most 64
// bytes (what sethostname takes).
func validHostname(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// maxKeyLine bounds one authorized_keys line (an RSA 16384 key is ~2.8 KB).
const maxKeyLine = 16 << 10

// keyLine is a single authorized_keys line, or "" with the reason.
func keyLine(k string) (string, string) {
	k = strings.TrimSpace(k)
	switch {
	case k == "":
		return "", "empty"
	case len(k) > maxKeyLine:
		return "", "longer than 16 KiB"
	case strings.ContainsAny(k, "\r\n\x00"):
		return "", "more than one line"
	}
	return k, ""
}
