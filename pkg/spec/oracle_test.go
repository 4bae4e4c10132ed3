package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-linux/keel/internal/testenv"
)

// oracleSpec is what rpmspec says about one spec, flattened to strings so
// that both sides compare as text.
type oracleSpec struct {
	Fields map[string]string   // "name", "evr", "pkgs", "pkg:NAME:arch" ...
	Sets   map[string][]string // "pkg:NAME:requires" ... sorted unique
}

const binQF = `PKG\t%{name}\t%{epoch}\t%{version}\t%{release}\t%{arch}\n` +
	`[R\t%{requirenevrs}\n][P\t%{providenevrs}\n][C\t%{conflictnevrs}\n][O\t%{obsoletenevrs}\n][M\t%{recommendnevrs}\n]`
const srcQF = `SRPM\t%{name}\t%{epoch}\t%{version}\t%{release}\n` +
	`[B\t%{requirenevrs}\n][X\t%{exclusivearch}\n][Y\t%{excludearch}\n][S\t%{source}\n][Q\t%{patch}\n][L\t%{changelogtime}\n]`

// rpmspecOracle queries rpmspec for specs. A spec rpmspec cannot parse maps
// to nil. Each spec gets its own rpmspec processes (several run in
// parallel): rpmspec -q with many specs leaks state from one spec to the
// next (a BuildArch re-parse leaves _target_cpu=noarch behind, debuginfo
// subpackages disappear), so batching many specs per process gives wrong
// answers.
func rpmspecOracle(t testing.TB, specs []string, args []string) map[string]*oracleSpec {
	out := map[string]*oracleSpec{}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				one := map[string]*oracleSpec{}
				oracleBatch([]string{s}, args, one)
				mu.Lock()
				out[s] = one[s]
				mu.Unlock()
			}
		}()
	}
	for _, s := range specs {
		work <- s
	}
	close(work)
	wg.Wait()
	return out
}

func runRpmspec(args []string, qf string, srpm bool, specs []string) (string, error) {
	a := append([]string{"-q"}, args...)
	if srpm {
		a = append(a, "--srpm")
	}
	a = append(a, "--qf", qf)
	a = append(a, specs...)
	cmd := exec.Command("rpmspec", a...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if err != nil {
		return so.String(), fmt.Errorf("%v: %s", err, se.String())
	}
	return so.String(), nil
}

func oracleBatch(specs []string, args []string, out map[string]*oracleSpec) bool {
	src, err := runRpmspec(args, srcQF, true, specs)
	var recs []*oracleSpec
	var names []string
	for _, l := range strings.Split(src, "\n") {
		f := strings.Split(l, "\t")
		switch f[0] {
		case "SRPM":
			o := &oracleSpec{Fields: map[string]string{}, Sets: map[string][]string{}}
			o.Fields["name"] = f[1]
			o.Fields["evr"] = evrOf(f[2], f[3], f[4])
			recs = append(recs, o)
			names = append(names, f[1])
		case "B":
			add(recs[len(recs)-1], "buildrequires", f[1])
		case "X":
			add(recs[len(recs)-1], "exclusivearch", f[1])
		case "Y":
			add(recs[len(recs)-1], "excludearch", f[1])
		case "S":
			add(recs[len(recs)-1], "sources", f[1])
		case "Q":
			add(recs[len(recs)-1], "patches", f[1])
		case "L":
			add(recs[len(recs)-1], "changelog", f[1])
		}
	}
	if len(recs) != len(specs) {
		if len(specs) == 1 {
			out[specs[0]] = nil
			return true
		}
		return false
	}
	_ = err
	bin, err := runRpmspec(args, binQF, false, specs)
	if err != nil && len(specs) > 1 {
		return false
	}
	k := -1
	var cur string
	for _, l := range strings.Split(bin, "\n") {
		f := strings.Split(l, "\t")
		switch f[0] {
		case "PKG":
			if k+1 < len(names) && f[1] == names[k+1] {
				k++
			}
			if k < 0 {
				return false
			}
			cur = f[1]
			o := recs[k]
			o.Fields["pkgs"] = strings.TrimPrefix(o.Fields["pkgs"]+" "+cur, " ")
			o.Fields["pkg:"+cur+":arch"] = f[5]
			o.Fields["pkg:"+cur+":evr"] = evrOf(f[2], f[3], f[4])
		case "R", "P", "C", "O", "M":
			kind := map[string]string{"R": "requires", "P": "provides", "C": "conflicts", "O": "obsoletes", "M": "recommends"}[f[0]]
			add(recs[k], "pkg:"+cur+":"+kind, f[1])
		}
	}
	for i, s := range specs {
		out[s] = recs[i]
	}
	return true
}

func evrOf(e, v, r string) string {
	s := v + "-" + r
	if e != "(none)" && e != "" {
		s = e + ":" + s
	}
	return s
}

func add(o *oracleSpec, key, v string) {
	l := o.Sets[key]
	i := sort.SearchStrings(l, v)
	if i < len(l) && l[i] == v {
		return
	}
	l = append(l, "")
	copy(l[i+1:], l[i:])
	l[i] = v
	o.Sets[key] = l
}

// keelView flattens a parsed Spec the same way.
func keelView(s *Spec) *oracleSpec {
	o := &oracleSpec{Fields: map[string]string{}, Sets: map[string][]string{}}
	o.Fields["name"] = s.Name
	o.Fields["evr"] = s.EVR()
	for _, d := range s.BuildRequires {
		add(o, "buildrequires", d.String())
	}
	for _, a := range s.ExclusiveArch {
		add(o, "exclusivearch", a)
	}
	for _, a := range s.ExcludeArch {
		add(o, "excludearch", a)
	}
	for _, x := range s.Sources {
		add(o, "sources", x.File)
	}
	for _, x := range s.Patches {
		add(o, "patches", x.File)
	}
	for _, c := range s.Changelog {
		add(o, "changelog", fmt.Sprint(c.Time.Unix()))
	}
	var names []string
	for _, p := range s.Packages {
		names = append(names, p.Name)
		o.Fields["pkg:"+p.Name+":arch"] = p.Arch
		o.Fields["pkg:"+p.Name+":evr"] = p.EVR()
		for kind, l := range map[string][]Dep{"requires": p.Requires, "provides": p.Provides, "conflicts": p.Conflicts, "obsoletes": p.Obsoletes, "recommends": p.Recommends} {
			for _, d := range l {
				add(o, "pkg:"+p.Name+":"+kind, d.String())
			}
		}
	}
	o.Fields["pkgs"] = strings.Join(names, " ")
	return o
}

// diffOracle lists disagreements, one string per field.
func diffOracle(want, got *oracleSpec) []string {
	var d []string
	for k, v := range want.Fields {
		if got.Fields[k] != v {
			d = append(d, fmt.Sprintf("%s: rpmspec %q, keel %q", k, v, got.Fields[k]))
		}
	}
	keys := map[string]bool{}
	for k := range want.Sets {
		keys[k] = true
	}
	for k := range got.Sets {
		keys[k] = true
	}
	for k := range keys {
		if strings.Join(want.Sets[k], "\n") != strings.Join(got.Sets[k], "\n") {
			d = append(d, fmt.Sprintf("%s: rpmspec %q, keel %q", k, want.Sets[k], got.Sets[k]))
		}
	}
	sort.Strings(d)
	return d
}

// checkAgainstRpmspec parses every spec with keel and rpmspec and reports
// disagreements. defines are given to both.
func checkAgainstRpmspec(t *testing.T, specs []string, defines []string, load []string) {
	t.Helper()
	var args []string
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	for _, l := range load {
		args = append(args, "--load", l)
	}
	want := rpmspecOracle(t, specs, args)
	r, err := NewReader(Options{Defines: defines, Load: load, Shell: ShellRun})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range specs {
		s, err := r.ParseFile(f)
		w := want[f]
		switch {
		case w == nil && err == nil:
			t.Errorf("%s: rpmspec fails, keel parses it", f)
		case w != nil && err != nil:
			t.Errorf("%s: keel: %v", f, err)
		case w != nil:
			for _, d := range diffOracle(w, keelView(s)) {
				t.Errorf("%s: %s", f, d)
			}
		}
	}
}

func TestOracleCorpus(t *testing.T) {
	testenv.RequireTool(t, "rpmspec")
	specs, _ := filepath.Glob("testdata/oracle/*.spec")
	if len(specs) == 0 {
		t.Fatal("no testdata/oracle specs")
	}
	checkAgainstRpmspec(t, specs, []string{"_sourcedir " + mustAbs("testdata/oracle")}, nil)
}

// TestOracleExternal checks a local corpus (e.g. Azure Linux's SPECS):
// KEEL_SPEC_CORPUS=/tmp/azl/SPECS KEEL_SPEC_LOAD=file1:file2.
func TestOracleExternal(t *testing.T) {
	dir := os.Getenv("KEEL_SPEC_CORPUS")
	if dir == "" {
		t.Skip("KEEL_SPEC_CORPUS not set")
	}
	specs, _ := filepath.Glob(filepath.Join(dir, "*", "*.spec"))
	var load []string
	if l := os.Getenv("KEEL_SPEC_LOAD"); l != "" {
		load = strings.Split(l, ":")
	}
	var defs []string
	if d := os.Getenv("KEEL_SPEC_DEFINES"); d != "" {
		defs = strings.Split(d, ";")
	}
	var luaPath []string
	if l := os.Getenv("KEEL_SPEC_LUAPATH"); l != "" {
		luaPath = strings.Split(l, ":")
	}
	var args []string
	for _, d := range defs {
		args = append(args, "--define", d)
	}
	for _, l := range load {
		args = append(args, "--load", l)
	}
	var want map[string]*oracleSpec
	cache := os.Getenv("KEEL_SPEC_ORACLE_CACHE")
	if b, err := os.ReadFile(cache); cache != "" && err == nil {
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
	} else {
		want = rpmspecOracle(t, specs, args)
		if cache != "" {
			b, _ := json.Marshal(want)
			os.WriteFile(cache, b, 0o644)
		}
	}
	r, err := NewReader(Options{Defines: defs, Load: load, Shell: ShellRun, LuaPath: luaPath})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KEEL_SPEC_SHELLTRACE") != "" {
		var mu sync.Mutex
		shellTrace = func(cmd string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("shell %6.1f ms  %s", float64(d.Microseconds())/1000, clip(strings.ReplaceAll(cmd, "\n", " ")))
		}
		defer func() { shellTrace = nil }()
	}
	// Agreement per category: a spec agrees on a category when every field
	// of that category matches.
	cats := []string{"name", "evr", "pkgs", "requires", "provides", "buildrequires", "conflicts", "obsoletes", "recommends", "arch", "sources", "patches", "changelog"}
	agree := map[string]int{}
	both, rpmFail, keelFail, bothFail := 0, 0, 0, 0
	var report []string
	for _, f := range specs {
		s, err := r.ParseFile(f)
		w := want[f]
		switch {
		case w == nil && err != nil:
			bothFail++
			continue
		case w == nil:
			rpmFail++
			report = append(report, f+": rpmspec fails, keel parses")
			continue
		case err != nil:
			keelFail++
			report = append(report, fmt.Sprintf("%s: keel error: %v", f, err))
			continue
		}
		both++
		diffs := diffOracle(w, keelView(s))
		bad := map[string]bool{}
		for _, d := range diffs {
			k := d[:strings.IndexByte(d, ':')]
			if strings.HasPrefix(d, "pkg:") {
				rest := strings.SplitN(d, ":", 4)
				k = rest[2]
			}
			bad[k] = true
			report = append(report, f+": "+d)
		}
		for _, c := range cats {
			if !bad[c] {
				agree[c]++
			}
		}
	}
	total := len(specs)
	t.Logf("%%(...): %+v, distinct memoized %d", r.ShellStats(), len(r.base.shellMemo.m))
	t.Logf("specs %d: both parse %d, rpmspec-only fail %d (keel parses), keel-only fail %d, both fail %d", total, both, rpmFail, keelFail, bothFail)
	for _, c := range cats {
		t.Logf("agree %-14s %d/%d (%.1f%%)", c, agree[c], both, 100*float64(agree[c])/float64(max(both, 1)))
	}
	if out := os.Getenv("KEEL_SPEC_REPORT"); out != "" {
		os.WriteFile(out, []byte(strings.Join(report, "\n")+"\n"), 0o644)
	}
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

// TestDebugOne prints keel's view of one spec: KEEL_SPEC_ONE=path.
func TestDebugOne(t *testing.T) {
	f := os.Getenv("KEEL_SPEC_ONE")
	if f == "" {
		t.Skip("KEEL_SPEC_ONE not set")
	}
	var load, luaPath, defs []string
	if l := os.Getenv("KEEL_SPEC_LOAD"); l != "" {
		load = strings.Split(l, ":")
	}
	if l := os.Getenv("KEEL_SPEC_LUAPATH"); l != "" {
		luaPath = strings.Split(l, ":")
	}
	if d := os.Getenv("KEEL_SPEC_DEFINES"); d != "" {
		defs = strings.Split(d, ";")
	}
	r, err := NewReader(Options{Defines: defs, Load: load, Shell: ShellRun, LuaPath: luaPath})
	if err != nil {
		t.Fatal(err)
	}
	if ev := os.Getenv("KEEL_SPEC_EVAL"); ev != "" {
		m := r.Macros().Clone()
		x, err := m.Expand(ev)
		t.Logf("%q %v", x, err)
		return
	}
	s, err := r.ParseFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(s, "", " ")
	t.Log(string(b))
}
