package ldso

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
)

// ConfFile is where ldconfig reads its directories; CacheFile is what it
// writes, and the only thing ld.so itself reads of them: without a cache
// the directories of ld.so.conf are not searched at all.
const (
	ConfFile  = "/etc/ld.so.conf"
	CacheFile = "/etc/ld.so.cache"
)

// maxIncludeDepth stops include loops (a file including itself).
const maxIncludeDepth = 16

// ConfReader reads ld.so.conf files inside a root.
type ConfReader struct {
	ReadFile func(p string) ([]byte, error)
	Glob     func(pattern string) ([]string, error)
}

// Parse reads file as ldconfig does: one directory per line, '#'
// comments, "include GLOB" (relative to the including file's directory,
// matches in sorted order), "hwcap" lines ignored. A missing top file is
// no directories; a malformed include is an error naming file and line.
func (c ConfReader) Parse(file string) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	err := c.parse(file, 0, func(d string) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	})
	return dirs, err
}

func (c ConfReader) parse(file string, depth int, add func(string)) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("%s: includes nested deeper than %d (a loop?)", file, maxIncludeDepth)
	}
	data, err := c.ReadFile(file)
	if err != nil {
		if depth == 0 {
			return nil
		}
		return nil // ldconfig skips an include that vanished between glob and open
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if rest, ok := cutWord(line, "include"); ok {
			for _, pat := range strings.Fields(rest) {
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(file), pat)
				}
				matches, err := c.Glob(pat)
				if err != nil {
					return fmt.Errorf("%s:%d: include %q: %v", file, n, pat, err)
				}
				sort.Strings(matches)
				for _, m := range matches {
					if err := c.parse(m, depth+1, add); err != nil {
						return err
					}
				}
			}
			continue
		}
		if _, ok := cutWord(line, "hwcap"); ok {
			continue
		}
		d := strings.TrimRight(line, "/")
		if d == "" || !path.IsAbs(d) {
			continue // ldconfig warns about relative directories and ignores them
		}
		add(path.Clean(d))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func cutWord(line, word string) (string, bool) {
	rest, ok := strings.CutPrefix(line, word)
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
