package spec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keel-linux/keel/internal/testenv"
)

// Differential tests: every command is run in process and by /bin/sh; the
// answers must be equal, and the in-process path must take (or refuse)
// what the table says.
func TestShellInProcessMatchesSh(t *testing.T) {
	testenv.RequireTool(t, "sh", "cut", "tr", "sed", "grep", "rev")
	if !shellInprocOK() {
		testenv.Missing(t, "/bin/sh is neither dash nor bash: everything forks")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o644)
	cases := []struct {
		cmd    string
		inproc bool // answered in process
	}{
		// shapes from Azure Linux's SPECS
		{"echo 3.12.9 | cut -d. -f1-2", true},
		{"echo 0.56.14 | cut -d. -f 1-2", true},
		{"echo 3.1.7 | cut -d '.' -f -2", true},
		{"echo 4.18.2 | cut -d'.' -f1-2", true},
		{"echo 1.1.43 | cut -d. -f 1,2", true},
		{"echo 1.2.4 | cut -d. -f1-3 --output-delimiter=\"_\"", true},
		{"echo \"gcc (Debian 12.2.0-14+deb12u1) 12.2.0\" | cut -f1 -d\".\"", true},
		{"echo be3ce2acc50313a6826c578e9dbb67e17085d60d | cut -c1-7", true},
		{"echo 1.0~rc1 | cut -d~ -f1", true},
		{"echo 8.2308.0 | rev | cut -d'.' -f2- | rev", true},
		{"echo 3.12 | tr -d .", true},
		{"echo '3.2.2~b1' | tr '~' '-'", true},
		{"echo ocaml-result | sed -e 's/^ocaml-//'", true},
		{"echo '1.031' | sed 's/\\(\\...\\)\\(.\\)/\\1.\\2/'", true},
		{"echo 2024-02-01|sed 's|-||g'", true},
		{"echo -n /usr/src/azl/SOURCES/dracut-kdump.sh|sed 's/.*dracut-//g'", true},
		{"echo -n 6.6.1-2.azl3 | sed -e 's/-/_/g'", true},
		{"echo 10.10.0 | grep -q \"\\.0$\"; echo $?", true},
		{"echo 10.10.1 | grep -q \"\\.0$\"; echo $?", true},
		{"if ( echo /usr | grep -E \"^/usr$|^/usr/$\" > /dev/null ); then echo -n '0'; else echo -n '1'; fi", true},
		{"if ( echo --with-core-mod --with-mlx5-mod | grep \"with-mlx5-mod\" > /dev/null ); then echo -n '1'; else echo -n '0'; fi", true},
		{"if ( echo --with-core-mod | grep \"with-memtrack\" > /dev/null ); then echo -n '1'; else echo -n '0'; fi", true},
		{"opts=-sP; echo ${opts#-}", true},
		{"c=255; echo \"v${c%.*}-stable\"", true},
		{"c=1.2.3; echo ${c%%.*} ${c##*.} ${c#*.} ${c%.*}", true},
		{"echo ${unset_var:-dflt} ${unset_var+alt}x", true},
		{"[ -z \"$RPM_BUILD_NCPUS\" ] && RPM_BUILD_NCPUS=4; ncpus_max=0; if [ -n \"$ncpus_max\" ] && [ \"$ncpus_max\" -gt 0 ] && [ \"$RPM_BUILD_NCPUS\" -gt \"$ncpus_max\" ]; then RPM_BUILD_NCPUS=\"$ncpus_max\"; fi; echo \"$RPM_BUILD_NCPUS\"", false}, // test and [ fork
		{"if ( test -f \"$MODULE_SIGN_PRIV_KEY\" && test -f \"$MODULE_SIGN_PUB_KEY\" ); \n\tthen \n\t\techo -n '1'; \n\telse \n\t\techo -n '0'; fi", false},                                                                                               // test and [ fork
		{"d=/usr/lib/rpm/macros.d; [ -d $d ] || d=/etc/rpm; echo $d", false},                        // test and [ fork
		{"if (test -d \"" + dir + "\" > /dev/null); then echo -n '1'; else echo -n '0'; fi", false}, // test and [ fork
		{"test -f " + file + " && echo yes; test -e " + file + "/no || echo no", false},             // test and [ fork
		{"echo a b  c; echo; echo -n x; echo y", true},
		{"echo $(echo 1.2.3 | cut -d. -f2)-`echo 4.5 | tr . _`", true},
		{"! false && echo neg", true},
		{"echo one two | sed -E 's/(o+)(n|w)/<\\2\\1>/g'", true},
		{"echo abcabc | sed 's/b*/x/g'", true},
		{"echo aaa | sed 's/a*/&&/'", true},
		{"printf_absent=1; echo x | grep -v y", true},
		{"echo A.b | grep -i a.B", true},
		{"echo a.b.c | cut -d. -f3,1", true},
		{"echo a.b.c | cut -d. -f5", true},
		{"echo nodelim | cut -d. -f2", true},
		{"echo nodelim | cut -s -d. -f2", true},
		{"echo x | sed -e 's/x/y/' -e 's/y/[&]/'", true},
		{"echo a/b/c | sed 's/\\//_/g'", true},
		{"echo a/b | sed 's|/|\\||'", false}, // \| with | as delimiter
		{"echo 'a[b]c' | sed 's/[][]/-/g'", true},
		{"echo 'a-b_c' | sed 's/[a-c_-]/X/g'", true},
		{"test 3 -eq 3 && echo eq; [ 2 -lt 10 ] && echo lt; [ abc != abd ] && echo ne", false}, // test and [ fork
		// forms the in-process path refuses: /bin/sh answers
		{"test 3 == 3 || echo -3.11", false},                // dash's test has no ==
		{"c=4c79120bcdbde; echo ${c:0:7}", false},           // bash-only: dash fails
		{"b=; echo ${b/-/\"~\"}", false},                    // bash-only
		{"v=\"gcc (Debian 12\"; echo $((++v))", false},      // dash arithmetic
		{"cut -d. -f-2 <<< 1.2.3", false},                   // here-string
		{"echo 'a\\tb'", false},                             // dash interprets \t
		{"echo -e x", false},                                // dash prints -e
		{"echo x | cut -d. -f1 /etc/hostname", false},       // a file operand
		{"echo 1 | sed 's/1/\\n/'", false},                  // GNU replacement escape
		{"echo ab | sed -E 's/(a)\\S/x/'", false},           // GNU \S
		{"echo ab | sed 's/a\\{1\\}/x/'", false},            // interval
		{"echo 5 | grep '[[:digit:]]'", false},              // class
		{"uname -m", false},                                 // not ours
		{"echo $$ > /dev/null; echo ok", false},             // pid
		{"echo * | cut -c1-0", false},                       // a glob
		{"echo x > " + filepath.Join(dir, "out"), false},    // writes a file
		{"test -x /bin/sh && echo 1 || echo 0", false},      // -x not modelled
		{"echo a | tr a-c x", false},                        // range
		{"echo 'a b' | xargs", false},                       // not ours
		{"echo x | sed 's/x/y/w " + dir + "/w'", false},     // w flag
		{"echo 12 | cut -c1,2 --output-delimiter=:", false}, // -c with output delimiter
		{"echo a.b | cut -d. -f1,2 --output-delimiter=", false},
		{"PATH=/nonexistent; echo x | cut -c1", false}, // which cut is dash's business
		{"echo 0 | tr 0 '\r\n'", false},                // the parser reads \r\n as \n (found by fuzzing)
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.cmd, "/", "∕"), func(t *testing.T) {
			want, err := forkShell(context.Background(), c.cmd, os.Environ())
			if err != nil {
				t.Fatal(err)
			}
			p := planShell(c.cmd)
			got, ok := "", false
			if p.inproc {
				got, ok = runInProcess(context.Background(), p.file, os.Environ())
			}
			if ok != c.inproc {
				t.Errorf("in process = %v, want %v (plan %+v)", ok, c.inproc, p)
			}
			if ok && got != want {
				t.Errorf("in process %q, /bin/sh %q", got, want)
			}
			// The whole path (memo, fallback) answers like /bin/sh.
			out, err := newShellCache().run(context.Background(), c.cmd)
			if err != nil || out != want {
				t.Errorf("run = %q, %v; /bin/sh %q", out, err, want)
			}
		})
	}
}

func TestShellMemoPolicy(t *testing.T) {
	testenv.RequireTool(t, "sh", "cut")
	if !shellInprocOK() {
		testenv.Missing(t, "/bin/sh is neither dash nor bash")
	}
	for _, c := range []struct {
		cmd  string
		memo bool
	}{
		{"echo 1.2.3 | cut -d. -f1", true}, // pure, in process
		{"test -d / && echo y", true},      // test forks: a host query, once per run
		{"date +%N", false},                // clock, forked
		{"mktemp -u", false},               // random, forked
		{"uname -m", true},                 // host query, forked once
		{"echo x > /dev/null; getconf PAGESIZE", true},
		{"eval \"`echo v=1`\"; echo $v", true}, // eval of host-query output
		{"eval v=1; echo $v", false},
		{"echo $RANDOM", false},
	} {
		sc := newShellCache()
		if _, err := sc.run(context.Background(), c.cmd); err != nil {
			t.Fatal(err)
		}
		if got := sc.m[c.cmd] != nil; got != c.memo {
			t.Errorf("%q memoized = %v, want %v", c.cmd, got, c.memo)
		}
	}
	// A Macros without a Reader has no cache: every command runs.
	if out, err := (*shellCache)(nil).run(context.Background(), "echo 1.2 | cut -d. -f1"); out != "1" || err != nil {
		t.Errorf("uncached run = %q, %v", out, err)
	}
}

func TestShellLocale(t *testing.T) {
	for _, c := range []struct {
		env []string
		ok  bool
	}{
		{nil, true},
		{[]string{"LANG=C.UTF-8"}, true},
		{[]string{"LANG=en_US.UTF-8"}, false},
		{[]string{"LANG=en_US.UTF-8", "LC_ALL=C"}, true},
		{[]string{"LC_ALL=POSIX", "LC_COLLATE=de_DE"}, true},
		{[]string{"LC_COLLATE=de_DE.UTF-8"}, false},
	} {
		if got := cLocale(c.env); got != c.ok {
			t.Errorf("cLocale(%q) = %v, want %v", c.env, got, c.ok)
		}
	}
}

// FuzzShellPipeline compares the in-process echo | cut/tr/sed/grep/rev
// pipelines with /bin/sh on generated inputs.
func FuzzShellPipeline(f *testing.F) {
	testenv.RequireTool(f, "sh", "cut", "tr", "sed", "grep", "rev")
	if !shellInprocOK() {
		f.Skip("/bin/sh is neither dash nor bash")
	}
	f.Add("1.2.3", uint8(0), ".", "1-2", "s/\\(.\\)\\.\\(.\\)/\\2:\\1/g")
	f.Add("a-b~c", uint8(1), "~", "-", "s/b*/x/g")
	f.Add("ocaml-x\ny.z", uint8(2), "^ocaml-", "", "s|-||g")
	f.Add("abcabc", uint8(3), "b", "2,4-", "s/[a-b]c/<&>/")
	f.Add("x.y", uint8(4), "", "", "")
	f.Add("aXbXc", uint8(5), "X", "-2", "s/(a|ab)(c|bcd)(d*)/[\\1|\\2|\\3]/")
	f.Fuzz(func(t *testing.T, in string, tool uint8, a, b, script string) {
		for _, s := range []string{in, a, b} {
			if strings.ContainsAny(s, "'\\\x00") {
				t.Skip()
			}
		}
		if !utf8.ValidString(in+a+b+script) || strings.ContainsAny(script, "'\x00") {
			t.Skip()
		}
		var cmd string
		q := func(s string) string { return "'" + s + "'" }
		switch tool % 6 {
		case 0:
			cmd = fmt.Sprintf("echo %s | cut -d%s -f%s", q(in), q(a), q(b))
		case 1:
			cmd = fmt.Sprintf("echo %s | tr %s %s", q(in), q(a), q(b))
		case 2:
			cmd = fmt.Sprintf("echo %s | grep %s; echo $?", q(in), q(a))
		case 3:
			cmd = fmt.Sprintf("echo %s | cut -c%s | rev", q(in), q(b))
		case 4:
			cmd = fmt.Sprintf("echo -n %s | sed %s", q(in), q(script))
		case 5:
			cmd = fmt.Sprintf("echo %s | sed -E %s | tr -d %s", q(in), q(script), q(a))
		}
		p := planShell(cmd)
		if !p.inproc {
			return
		}
		got, ok := runInProcess(context.Background(), p.file, os.Environ())
		if !ok {
			return
		}
		want, err := forkShell(context.Background(), cmd, os.Environ())
		if err != nil {
			t.Skip()
		}
		if got != want {
			t.Fatalf("%s\nin process %q\n/bin/sh    %q", cmd, got, want)
		}
	})
}

// TestShellRandomPipelines compares generated cut/tr/sed/grep/rev pipelines
// (fixed seed) in process and under /bin/sh.
func TestShellRandomPipelines(t *testing.T) {
	testenv.RequireTool(t, "sh", "cut", "tr", "sed", "grep", "rev")
	if !shellInprocOK() {
		testenv.Missing(t, "/bin/sh is neither dash nor bash")
	}
	n := 300
	if testing.Short() {
		n = 60
	}
	if s := os.Getenv("KEEL_SHELL_RANDOM_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s string) byte { return s[rng.IntN(len(s))] }
	word := func(alpha string, max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = pick(alpha)
		}
		return string(b)
	}
	re := func(ere bool) string {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteByte('^')
		}
		for k := rng.IntN(4) + 1; k > 0; k-- {
			switch rng.IntN(7) {
			case 0:
				b.WriteString(".")
			case 1:
				b.WriteString("[a-b.]")
			case 2:
				if ere {
					b.WriteString("(a|b.)")
				} else {
					b.WriteString(`\(a.\)`)
				}
			case 3:
				b.WriteString(`\.`)
			default:
				b.WriteByte(pick("ab-x"))
			}
			if rng.IntN(3) == 0 {
				if ere {
					b.WriteByte(pick("*+?"))
				} else {
					b.WriteByte('*')
				}
			}
		}
		if rng.IntN(4) == 0 {
			b.WriteByte('$')
		}
		return b.String()
	}
	tried, inproc := 0, 0
	for i := 0; i < n; i++ {
		in := word("ab.-x~", 8)
		if rng.IntN(3) == 0 {
			in += "\n" + word("ab.-x", 5)
		}
		var cmd string
		switch rng.IntN(6) {
		case 0:
			cmd = fmt.Sprintf("echo '%s' | cut -d%c -f%d-%d", in, pick(".-~"), rng.IntN(3)+1, rng.IntN(3)+2)
		case 1:
			cmd = fmt.Sprintf("echo '%s' | cut -c%d,%d- | rev", in, rng.IntN(4)+1, rng.IntN(6)+1)
		case 2:
			cmd = fmt.Sprintf("echo -n '%s' | tr '%s' '%s'", in, word(".~x", 1)+"a", word("_b", 2)+"-")
		case 3:
			ere := rng.IntN(2) == 0
			flag := ""
			if ere {
				flag = "-E "
			}
			cmd = fmt.Sprintf("echo '%s' | grep %s'%s'; echo $?", in, flag, re(ere))
		default:
			ere := rng.IntN(2) == 0
			flag, g := "", ""
			if ere {
				flag = "-E "
			}
			if rng.IntN(2) == 0 {
				g = "g"
			}
			repl := word("xy&_", 3)
			if rng.IntN(2) == 0 && strings.Contains(re(false), "(") {
				repl += `\1`
			}
			cmd = fmt.Sprintf("echo '%s' | sed %s's/%s/%s/%s'", in, flag, re(ere), repl, g)
		}
		tried++
		want, err := forkShell(context.Background(), cmd, os.Environ())
		if err != nil {
			t.Fatal(err)
		}
		p := planShell(cmd)
		if !p.inproc {
			continue
		}
		got, ok := runInProcess(context.Background(), p.file, os.Environ())
		if !ok {
			continue
		}
		inproc++
		if got != want {
			t.Errorf("%s\nin process %q\n/bin/sh    %q", cmd, got, want)
		}
	}
	t.Logf("%d pipelines, %d answered in process", tried, inproc)
}

// TestDiscardedHostQueries: in discard.spec the host queries whose output
// only lands in script, %files or %description text are not run; the
// ones reaching %global, %{expand:} or a conditional are (the oracle test
// checks the fields against rpmspec).
func TestDiscardedHostQueries(t *testing.T) {
	r, err := NewReader(Options{Shell: ShellRun})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ran []string
	shellTrace = func(cmd string, _ time.Duration) { mu.Lock(); ran = append(ran, cmd); mu.Unlock() }
	defer func() { shellTrace = nil }()
	s, err := r.ParseFile("testdata/oracle/discard.spec")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ran {
		if strings.Contains(c, "uname -m") || strings.Contains(c, "uname -r") {
			t.Errorf("ran %q, whose output only reaches discarded text", c)
		}
	}
	if st := r.ShellStats(); st.Discarded == 0 {
		t.Errorf("no host query discarded: %+v", st)
	}
	var reqs []string
	for _, p := range s.Packages {
		for _, d := range p.Requires {
			reqs = append(reqs, d.Name)
		}
	}
	want := []string{"early-Linux", "inbuild-linux", "branch-linux", "expanded-Linux"}
	for _, w := range want {
		if !slices.Contains(reqs, w) {
			t.Errorf("Requires %q missing from %q", w, reqs)
		}
	}
}
