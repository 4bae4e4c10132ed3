package image

import (
	"fmt"
	"os"
	"strings"
)

// applyAccounts adds the definition's groups and users to /etc/group,
// /etc/passwd and /etc/shadow (locked passwords) — the built-in that
// replaces useradd/groupadd scriptlets.
func applyAccounts(d *Definition, r *os.Root, own owners) error {
	if len(d.Users) == 0 && len(d.Groups) == 0 {
		return nil
	}
	// Parse validated them; a Definition built in Go has not been.
	if err := d.validateAccounts(); err != nil {
		return err
	}
	// These files are read into the image and rewritten: a link planted in
	// their place (to the host's /etc/shadow, or the image's) is refused.
	for _, f := range accountFiles {
		if err := refuseLinks(r, own, f, "refusing to read through it", false); err != nil {
			return err
		}
	}
	gids := map[string]int{}
	group, err := readLines(r, "etc/group")
	if err != nil {
		return err
	}
	for _, l := range group {
		f := strings.Split(l, ":")
		if len(f) >= 3 {
			var id int
			fmt.Sscan(f[2], &id)
			gids[f[0]] = id
		}
	}
	for _, g := range d.Groups {
		if id, ok := gids[g.Name]; ok {
			if id != g.GID {
				return fmt.Errorf("groups: %s already exists in the image with gid %d, not %d", g.Name, id, g.GID)
			}
			continue
		}
		gids[g.Name] = g.GID
		group = append(group, fmt.Sprintf("%s:x:%d:", g.Name, g.GID))
	}
	passwd, err := readLines(r, "etc/passwd")
	if err != nil {
		return err
	}
	shadow, err := readLines(r, "etc/shadow")
	if err != nil {
		return err
	}
	for _, u := range d.Users {
		for _, l := range passwd {
			if strings.HasPrefix(l, u.Name+":") {
				return fmt.Errorf("users: %s already exists in the image", u.Name)
			}
		}
		gname := u.Group
		if gname == "" {
			gname = u.Name
		}
		gid, ok := gids[gname]
		if !ok {
			gid = u.UID
			gids[gname] = gid
			group = append(group, fmt.Sprintf("%s:x:%d:", gname, gid))
		}
		home, shell := u.Home, u.Shell
		if home == "" {
			home = "/home/" + u.Name
		}
		if shell == "" {
			shell = "/sbin/nologin"
		}
		passwd = append(passwd, fmt.Sprintf("%s:x:%d:%d::%s:%s", u.Name, u.UID, gid, home, shell))
		shadow = append(shadow, u.Name+":!:1::::::")
		for _, sg := range u.Groups {
			found := false
			for i, l := range group {
				if strings.HasPrefix(l, sg+":") {
					sep := ","
					if strings.HasSuffix(l, ":") {
						sep = ""
					}
					group[i] = l + sep + u.Name
					found = true
				}
			}
			if !found {
				return fmt.Errorf("users: %s: supplementary group %s does not exist", u.Name, sg)
			}
		}
	}
	for _, f := range []struct {
		name  string
		lines []string
		mode  os.FileMode
	}{{"etc/group", group, 0o644}, {"etc/passwd", passwd, 0o644}, {"etc/shadow", shadow, 0o000}} {
		if err := writeOwned(r, f.name, []byte(strings.Join(f.lines, "\n")+"\n"), f.mode); err != nil {
			return err
		}
	}
	return nil
}

var accountFiles = []string{"/etc/group", "/etc/passwd", "/etc/shadow"}

func readLines(r *os.Root, rel string) ([]string, error) {
	b, err := r.ReadFile(rel)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}
