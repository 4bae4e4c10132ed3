package main

// cloud-init's NoCloud data source: a volume labelled "cidata" holding
// meta-data (instance-id, local-hostname) and user-data (#cloud-config).
// The subset applied is documented in docs/provisioning.md; every other key
// becomes a Note.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// ParseNoCloud reads meta-data and user-data. An error means nothing may be
// applied (no instance-id, or meta-data that is not a YAML mapping);
// problems inside user-data are Notes and the rest still applies.
func ParseNoCloud(metaData, userData []byte) (*Config, error) {
	c := &Config{Source: "nocloud"}
	md, err := yamlMapping(metaData)
	if err != nil {
		return nil, fmt.Errorf("meta-data: %v", err)
	}
	for _, kv := range md {
		switch kv.key {
		case "instance-id", "instance_id":
			v, ok := scalar(kv.val)
			if !ok || strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("meta-data:%d: instance-id: want a non-empty string", kv.val.Line)
			}
			c.InstanceID = strings.TrimSpace(v)
		case "local-hostname", "local_hostname", "hostname":
			c.setHostname("meta-data."+kv.key, kv.val)
		default:
			c.note("meta-data."+kv.key, "not supported: ignored")
		}
	}
	if c.InstanceID == "" {
		return nil, fmt.Errorf("meta-data: no instance-id (cloud-init needs one; without it provisioning cannot be done once per instance)")
	}
	c.parseUserData(userData)
	return c, nil
}

func (c *Config) parseUserData(b []byte) {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	first = bytes.TrimSpace(first)
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return
	case bytes.Equal(first, []byte("#cloud-config")):
	case bytes.HasPrefix(first, []byte("#!")):
		c.note("user-data", "a script (#!): not supported, only #cloud-config; nothing run")
		return
	case bytes.HasPrefix(bytes.ToLower(first), []byte("content-type:")), bytes.HasPrefix(first, []byte("MIME-Version")):
		c.note("user-data", "MIME multipart: not supported, only #cloud-config; ignored")
		return
	default:
		c.note("user-data", "not #cloud-config (first line %q): ignored", trunc(string(first), 40))
		return
	}
	top, err := yamlMapping(b)
	if err != nil {
		c.note("user-data", "%v: nothing in it applied", err)
		return
	}
	var unsupported []string
	for _, kv := range top {
		key := "user-data." + kv.key
		switch kv.key {
		case "hostname":
			c.setHostname(key, kv.val)
		case "users":
			c.parseUsers(key, kv.val)
		case "ssh_pwauth":
			v, _ := scalar(kv.val)
			switch strings.ToLower(v) {
			case "false", "no", "0", "unchanged":
			case "true", "yes", "1":
				c.note(key, "refused: Keel's sshd accepts public keys only")
			default:
				c.note(key, "want true or false, got %q: ignored", trunc(v, 40))
			}
		case "disable_root":
			if v, _ := scalar(kv.val); strings.ToLower(v) == "false" {
				c.note(key, "refused: root never logs in over SSH on Keel")
			}
		case "write_files":
			c.parseWriteFiles(key, kv.val)
		case "runcmd":
			c.parseRunCmd(key, kv.val)
		default:
			unsupported = append(unsupported, kv.key)
		}
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		c.note("user-data.unsupported", "%s: not applied", strings.Join(unsupported, " "))
	}
}

func (c *Config) setHostname(key string, n *yaml.Node) {
	v, ok := scalar(n)
	switch {
	case !ok:
		c.note(key, "want a string: ignored")
	case !validHostname(v):
		c.note(key, "%q is not a valid host name (RFC 1123 labels, at most 64 bytes): ignored", trunc(v, 80))
	default:
		c.Hostname = v
	}
}

// eachItem calls f for each item of the list n (key[i] names it), or
// notes that n is not a list.
func (c *Config) eachItem(key string, n *yaml.Node, f func(k string, item *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		c.note(key, "want a list: ignored")
		return
	}
	for i, item := range n.Content {
		f(fmt.Sprintf("%s[%d]", key, i), item)
	}
}

func (c *Config) parseUsers(key string, n *yaml.Node) {
	c.eachItem(key, n, func(k string, item *yaml.Node) {
		if v, ok := scalar(item); ok {
			if v == "default" {
				c.note(k, "default: Keel images have no default user: ignored")
			} else {
				c.note(k, "a bare name: want a mapping with name and ssh_authorized_keys: ignored")
			}
			return
		}
		fields, err := mappingOf(item)
		if err != nil {
			c.note(k, "%v: ignored", err)
			return
		}
		var u User
		ok := true
		for _, f := range fields {
			fk := k + "." + f.key
			switch f.key {
			case "name":
				v, _ := scalar(f.val)
				if !userName.MatchString(v) {
					c.note(fk, "%q is not a valid user name ([a-z_][a-z0-9_-], at most 32): user not created", trunc(v, 40))
					ok = false
				}
				u.Name = v
			case "gecos":
				v, _ := scalar(f.val)
				if strings.ContainsAny(v, ":\n") {
					c.note(fk, "contains ':' or a newline: ignored")
				} else {
					u.Gecos = v
				}
			case "shell":
				v, _ := scalar(f.val)
				if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, ":\n") {
					c.note(fk, "want an absolute path: /bin/sh used")
				} else {
					u.Shell = v
				}
			case "ssh_authorized_keys", "ssh-authorized-keys":
				if f.val.Kind != yaml.SequenceNode {
					c.note(fk, "want a list of keys: none added")
					continue
				}
				for j, kn := range f.val.Content {
					v, _ := scalar(kn)
					line, why := keyLine(v)
					if why != "" {
						c.note(fmt.Sprintf("%s[%d]", fk, j), "rejected: %s", why)
						continue
					}
					u.Keys = append(u.Keys, line)
				}
			case "sudo":
				c.parseSudo(fk, f.val, &u)
			case "lock_passwd":
				if v, _ := scalar(f.val); strings.ToLower(v) == "false" {
					c.note(fk, "refused: Keel users have no password")
				}
			case "passwd", "hashed_passwd", "plain_text_passwd":
				c.note(fk, "refused: Keel users have no password (the value is not reported)")
			default:
				c.note(fk, "not supported: ignored")
			}
		}
		if u.Name == "" && ok {
			c.note(k, "no name: user not created")
			ok = false
		}
		if ok {
			c.Users = append(c.Users, u)
		}
	})
}

// parseSudo maps cloud-init's sudo rules to doas: only the NOPASSWD:ALL
// rule has an equivalent (Keel's doas checks no passwords).
func (c *Config) parseSudo(key string, n *yaml.Node, u *User) {
	var rules []string
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Tag == "!!bool" && strings.ToLower(n.Value) == "false" {
			return
		}
		rules = []string{n.Value}
	case yaml.SequenceNode:
		var ok bool
		if rules, ok = scalars(n); !ok {
			c.note(key, "want a rule string or a list of them: no rights given")
			return
		}
	default:
		c.note(key, "want a rule string or a list of them: no rights given")
		return
	}
	for _, r := range rules {
		if nopassAll.MatchString(strings.TrimSpace(r)) {
			u.Doas = true
		} else {
			c.note(key, "rule %q has no doas equivalent without a password: not applied", trunc(r, 80))
		}
	}
}

// maxWriteFile bounds one write_files entry's content.
const maxWriteFile = 1 << 20

func (c *Config) parseWriteFiles(key string, n *yaml.Node) {
	c.eachItem(key, n, func(k string, item *yaml.Node) {
		fields, err := mappingOf(item)
		if err != nil {
			c.note(k, "%v: not written", err)
			return
		}
		w := WriteFile{Mode: 0o644}
		var content, encoding string
		ok := true
		for _, f := range fields {
			v, isScalar := scalar(f.val)
			if !isScalar {
				c.note(k+"."+f.key, "want a scalar: file not written")
				ok = false
				continue
			}
			switch f.key {
			case "path":
				w.Path = v
			case "content":
				content = v
			case "encoding":
				encoding = strings.ToLower(v)
			case "permissions":
				m, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(v, "0o"), "0"), 8, 32)
				if v == "0" {
					m, err = 0, nil
				}
				if err != nil || m > 0o7777 {
					c.note(k+".permissions", "%q is not an octal mode: file not written", trunc(v, 20))
					ok = false
				} else if m > 0o777 {
					c.note(k+".permissions", "%q: setuid, setgid and sticky bits are not applied", v)
				}
				w.Mode = uint32(m & 0o777)
			case "owner":
				w.Owner = v
			case "append":
				w.Append = strings.ToLower(v) == "true"
			case "defer":
				// Keel writes files after creating users anyway.
			default:
				c.note(k+"."+f.key, "not supported: ignored")
			}
		}
		if why := badPath(w.Path); why != "" {
			c.note(k+".path", "%q %s: file not written", trunc(w.Path, 80), why)
			return
		}
		switch encoding {
		case "", "text/plain":
			w.Content = []byte(content)
		case "b64", "base64":
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(content), ""))
			if err != nil {
				c.note(k+".content", "not valid base64: file not written")
				ok = false
			}
			w.Content = b
		default:
			c.note(k+".encoding", "%q not supported (text or b64): file not written", trunc(encoding, 20))
			ok = false
		}
		if len(w.Content) > maxWriteFile {
			c.note(k+".content", "larger than 1 MiB: file not written")
			ok = false
		}
		if ok {
			c.WriteFiles = append(c.WriteFiles, w)
		}
	})
}

// badPath says why path may not be written by write_files ("" = fine).
func badPath(p string) string {
	switch {
	case p == "":
		return "is empty"
	case !strings.HasPrefix(p, "/"):
		return "is not absolute"
	case strings.ContainsRune(p, 0):
		return "contains NUL"
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "contains .."
		}
	}
	for _, pre := range []string{"/proc", "/sys", "/dev"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return "is under " + pre
		}
	}
	return ""
}

func (c *Config) parseRunCmd(key string, n *yaml.Node) {
	c.eachItem(key, n, func(k string, item *yaml.Node) {
		if v, ok := scalar(item); ok {
			c.RunCmd = append(c.RunCmd, Command{Shell: v})
			return
		}
		argv, ok := scalars(item)
		if !ok || len(argv) == 0 {
			c.note(k, "want a string or a non-empty list of strings: not run")
			return
		}
		c.RunCmd = append(c.RunCmd, Command{Argv: argv})
	})
}

// scalars is the text of a list of scalars; false if n is not one.
func scalars(n *yaml.Node) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	for _, a := range n.Content {
		v, ok := scalar(a)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

type keyVal struct {
	key string
	val *yaml.Node
}

// yamlMapping parses a YAML document whose top level is a mapping (an
// empty document is an empty mapping).
func yamlMapping(b []byte) ([]keyVal, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return mappingOf(doc.Content[0])
}

func mappingOf(n *yaml.Node) ([]keyVal, error) {
	if n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: YAML aliases are not supported", n.Line)
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping", n.Line)
	}
	out := make([]keyVal, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, ok := scalar(n.Content[i])
		if !ok {
			return nil, fmt.Errorf("line %d: a key that is not a string", n.Content[i].Line)
		}
		if seen[k] {
			return nil, fmt.Errorf("line %d: %s given twice", n.Content[i].Line, trunc(k, 40))
		}
		seen[k] = true
		v := n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			return nil, fmt.Errorf("line %d: YAML aliases are not supported", v.Line)
		}
		out = append(out, keyVal{k, v})
	}
	return out, nil
}

// scalar is a scalar node's text; false for null, mappings and lists.
func scalar(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
