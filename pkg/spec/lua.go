package spec

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

const (
	luaTimeout   = 5 * time.Second
	shellTimeout = 10 * time.Second
	shellMaxOut  = 1 << 20
)

// luaEnv is the Lua interpreter of one macro context, created on first use.
type luaEnv struct {
	L     *lua.LState
	out   *strings.Builder // print() target of the running chunk
	e     *expander        // expander of the running chunk
	m     *Macros          // context the state serves now
	depth int
	// globals are the pristine globals, restored before reuse.
	globals    map[lua.LValue]lua.LValue
	srcVersion int
}

// forLimitRE finds numeric for loops whose limit is an expression: Lua 5.4
// coerces a numeric string there (for i=1,rpm.expand("%#")), gopher-lua's
// Lua 5.1 does not, so the limit is wrapped in tonumber().
var forLimitRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(\bfor\s+\w+\s*=\s*[^,\n]+,\s*)(rpm\.expand\([^\n]*?\))\s+do\b`)
})

func init() {
	// Lua 5.1's implicit `arg` table for vararg functions is gone since
	// Lua 5.2 (rpm runs 5.4): without it a nested function(...) sees the
	// global arg rpm sets, and no table is built per chunk call (every
	// chunk is vararg), which was a third of the Lua allocations. Only
	// this package uses gopher-lua.
	lua.CompatVarArg = false
}

var (
	protoMu    sync.Mutex
	protoCache = map[string]*lua.FunctionProto{}
)

// compileLua compiles a chunk once per process: macro files run the same
// chunks for every spec.
func compileLua(src string) (*lua.FunctionProto, error) {
	protoMu.Lock()
	p, ok := protoCache[src]
	protoMu.Unlock()
	if ok {
		return p, nil
	}
	chunk, err := parse.Parse(strings.NewReader(forLimitRE().ReplaceAllString(src, "${1}tonumber(${2}) do")), "<lua>")
	if err != nil {
		return nil, err
	}
	p, err = lua.Compile(chunk, "<lua>")
	if err != nil {
		return nil, err
	}
	protoMu.Lock()
	if len(protoCache) < 4096 {
		protoCache[src] = p
	}
	protoMu.Unlock()
	return p, nil
}

func (m *Macros) luaState() *luaEnv {
	if m.lua != nil {
		return m.lua
	}
	if m.luaPool != nil {
		if env, ok := m.luaPool.Get().(*luaEnv); ok && env != nil {
			env.m = m
			m.lua = env
			return env
		}
	}
	L := lua.NewState(lua.Options{CallStackSize: 200, RegistrySize: 1024, RegistryGrowStep: 1024, RegistryMaxSize: 1024 * 1024})
	env := &luaEnv{L: L, m: m, srcVersion: -1}
	m.lua = env
	// The os library's execute/remove/exit must not reach the host.
	if osT, ok := L.GetGlobal("os").(*lua.LTable); ok {
		for _, f := range []string{"execute", "remove", "rename", "exit", "tmpname"} {
			osT.RawSetString(f, lua.LNil)
		}
	}
	// io stays for reading files (specs read version files with io.open);
	// anything that writes, runs commands or touches keel's stdio goes.
	if ioT, ok := L.GetGlobal("io").(*lua.LTable); ok {
		for _, f := range []string{"popen", "output", "input", "write", "read", "lines", "tmpfile", "stdout", "stderr", "stdin"} {
			ioT.RawSetString(f, lua.LNil)
		}
		if open, ok := ioT.RawGetString("open").(*lua.LFunction); ok {
			ioT.RawSetString("open", L.NewFunction(func(L *lua.LState) int {
				if mode := L.OptString(2, "r"); mode != "r" && mode != "rb" {
					L.RaiseError("io.open: mode %q not allowed while reading a spec", mode)
				}
				// As %include: a device or fifo would read without end.
				if fi, err := os.Stat(L.CheckString(1)); err == nil && (!fi.Mode().IsRegular() || fi.Size() > maxFileSize) {
					L.Push(lua.LNil)
					L.Push(lua.LString(L.CheckString(1) + ": not a regular file within the size limit"))
					return 2
				}
				n := L.GetTop()
				L.Push(open)
				L.Push(L.Get(1))
				L.Push(lua.LString("r"))
				L.Call(2, lua.MultRet)
				return L.GetTop() - n
			}))
		}
	}
	// Lua 5.2+ names used by rpm's and distributions' macro files.
	// Lua coerces numeric strings where numbers are expected; gopher-lua's
	// string library does not.
	if str, ok := L.GetGlobal("string").(*lua.LTable); ok {
		for _, name := range []string{"sub", "rep", "byte", "char"} {
			orig, ok := str.RawGetString(name).(*lua.LFunction)
			if !ok {
				continue
			}
			str.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
				n := L.GetTop()
				args := make([]lua.LValue, n)
				for i := 1; i <= n; i++ {
					v := L.Get(i)
					if s, ok := v.(lua.LString); ok && i > 1 {
						if f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil {
							v = lua.LNumber(f)
						}
					}
					args[i-1] = v
				}
				if name == "rep" && n >= 2 {
					// The result is allocated at once, beyond the timeout's reach.
					str, _ := args[0].(lua.LString)
					count, _ := args[1].(lua.LNumber)
					if float64(len(str))*float64(count) > maxExpandSize {
						L.RaiseError("string.rep: result over %d bytes", maxExpandSize)
					}
				}
				L.Push(orig)
				for _, a := range args {
					L.Push(a)
				}
				L.Call(n, lua.MultRet)
				return L.GetTop() - n
			}))
		}
	}
	if tbl, ok := L.GetGlobal("table").(*lua.LTable); ok {
		tbl.RawSetString("unpack", L.GetGlobal("unpack"))
	}
	L.SetGlobal("dofile", lua.LNil)
	L.SetGlobal("loadfile", lua.LNil)
	if pkg, ok := L.GetGlobal("package").(*lua.LTable); ok {
		var paths []string
		for _, d := range m.LuaPath {
			paths = append(paths, d+"/?.lua")
		}
		pkg.RawSetString("path", lua.LString(strings.Join(paths, ";")))
		pkg.RawSetString("cpath", lua.LString(""))
	}
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		for i := 1; i <= n; i++ {
			if i > 1 {
				env.out.WriteString("\t")
			}
			env.out.WriteString(L.ToStringMeta(L.Get(i)).String())
		}
		// rpm's print adds no newline.
		return 0
	}))
	rpmT := L.NewTable()
	L.SetFuncs(rpmT, map[string]lua.LGFunction{
		"expand": func(L *lua.LState) int {
			s, err := env.e.expandString(L.CheckString(1))
			if err != nil {
				L.RaiseError("%v", err)
			}
			L.Push(lua.LString(s))
			return 1
		},
		"define": func(L *lua.LState) int {
			if _, err := env.e.doDefine(L.CheckString(1), -1, false); err != nil {
				L.RaiseError("%v", err)
			}
			return 0
		},
		"undefine": func(L *lua.LState) int {
			env.m.Undefine(L.CheckString(1))
			return 0
		},
		"isdefined": func(L *lua.LState) int {
			d := env.m.get(L.CheckString(1))
			L.Push(lua.LBool(d != nil))
			L.Push(lua.LBool(d != nil && d.param))
			return 2
		},
		"vercmp": func(L *lua.LState) int {
			L.Push(lua.LNumber(compareEVRString(L.CheckString(1), L.CheckString(2))))
			return 1
		},
		"interactive": func(L *lua.LState) int { return 0 },
	})
	L.SetGlobal("rpm", rpmT)
	posixT := L.NewTable()
	L.SetFuncs(posixT, map[string]lua.LGFunction{
		"getenv": func(L *lua.LState) int { L.Push(lua.LString(os.Getenv(L.CheckString(1)))); return 1 },
		"access": func(L *lua.LState) int {
			_, err := os.Stat(L.CheckString(1))
			L.Push(lua.LBool(err == nil))
			return 1
		},
		"stat": func(L *lua.LState) int { L.Push(lua.LNil); return 1 },
		"uname": func(L *lua.LState) int {
			// posix.uname(format): %s sysname, %n nodename, %r release,
			// %v version, %m machine (read from /proc, no syscall package).
			rd := func(f string) string {
				b, _ := os.ReadFile("/proc/sys/kernel/" + f)
				return strings.TrimSpace(string(b))
			}
			r := strings.NewReplacer("%s", "Linux", "%n", rd("hostname"), "%r", rd("osrelease"), "%v", rd("version"), "%m", "x86_64", "%%", "%")
			L.Push(lua.LString(r.Replace(L.OptString(1, "%s %n %r %v %m"))))
			return 1
		},
	})
	L.SetGlobal("posix", posixT)
	// macros.NAME reads (expands) and writes macros; macros.NAME(args) calls
	// a parametric macro.
	macrosT := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		d := env.m.get(name)
		if d == nil {
			L.Push(lua.LNil)
			return 1
		}
		if d.builtin != nil {
			// macros.shescape({s}) and friends call the builtin.
			L.Push(L.NewFunction(func(L *lua.LState) int {
				var args []string
				for i := 1; i <= L.GetTop(); i++ {
					if t, ok := L.Get(i).(*lua.LTable); ok {
						t.ForEach(func(_, x lua.LValue) { args = append(args, x.String()) })
					} else {
						args = append(args, L.Get(i).String())
					}
				}
				out, err := env.e.callBuiltin(d, name, strings.Join(args, " "), len(args) > 0)
				if err != nil {
					L.RaiseError("%v", err)
				}
				L.Push(lua.LString(out))
				return 1
			}))
			return 1
		}
		if d.param {
			L.Push(L.NewFunction(func(L *lua.LState) int {
				var args []string
				for i := 1; i <= L.GetTop(); i++ {
					v := L.Get(i)
					if t, ok := v.(*lua.LTable); ok {
						t.ForEach(func(_, x lua.LValue) { args = append(args, x.String()) })
					} else {
						args = append(args, v.String())
					}
				}
				var b strings.Builder
				if err := env.e.callParam(&b, d, args); err != nil {
					L.RaiseError("%v", err)
				}
				L.Push(lua.LString(b.String()))
				return 1
			}))
			return 1
		}
		s, err := env.e.expandString("%{" + name + "}")
		if err != nil {
			L.RaiseError("%v", err)
		}
		L.Push(lua.LString(s))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		v := L.Get(3)
		if v == lua.LNil {
			env.m.Undefine(name)
			return 0
		}
		env.m.Push(name, v.String(), env.e.level)
		return 0
	}))
	L.SetMetatable(macrosT, mt)
	L.SetGlobal("macros", macrosT)
	// Remember the pristine globals so a pooled state can be reset.
	env.globals = map[lua.LValue]lua.LValue{}
	L.G.Global.ForEach(func(k, v lua.LValue) { env.globals[k] = v })
	return env
}

// releaseLua resets the context's Lua state to its pristine globals and
// returns it to the pool: creating a state costs more than most specs.
func (m *Macros) releaseLua() {
	env := m.lua
	m.lua = nil
	if env == nil || m.luaPool == nil || env.depth != 0 {
		return
	}
	g := env.L.G.Global
	var extra []lua.LValue
	g.ForEach(func(k, _ lua.LValue) {
		if _, ok := env.globals[k]; !ok {
			extra = append(extra, k)
		}
	})
	for _, k := range extra {
		g.RawSet(k, lua.LNil)
	}
	for k, v := range env.globals {
		g.RawSet(k, v)
	}
	env.L.SetTop(0)
	env.m, env.e, env.out = nil, nil, nil
	env.srcVersion = -1
	m.luaPool.Put(env)
}

// runLua runs a %{lua:} chunk and returns what it printed. opt and arg are
// the tables rpm gives chunks inside parametric macros.
func (e *expander) runLua(src string, opt map[string]string, args []string) (string, error) {
	env := e.m.luaState()
	proto, err := compileLua(src)
	if err != nil {
		return "", fmt.Errorf("lua script failed: %v", err)
	}
	L := env.L
	prevOut, prevE := env.out, env.e
	var out strings.Builder
	env.out, env.e = &out, e
	defer func() { env.out, env.e = prevOut, prevE }()
	if n := len(e.frames); n > 0 {
		// Inside a parametric macro: expose its options and arguments.
		fr := e.frames[n-1]
		// CreateTable: NewTable preallocates 32+32 slots, and this runs per chunk.
		optT, argT := L.CreateTable(0, len(fr.opts)), L.CreateTable(len(fr.args), 0)
		for k, v := range fr.opts {
			optT.RawSetString(k, lua.LString(v))
		}
		for _, a := range fr.args {
			argT.Append(lua.LString(a))
		}
		L.SetGlobal("opt", optT)
		L.SetGlobal("arg", argT)
	} else {
		L.SetGlobal("opt", L.CreateTable(0, 0))
		L.SetGlobal("arg", L.CreateTable(0, 0))
	}
	if env.srcVersion != e.m.srcVersion {
		e.m.setLuaSources(L)
		env.srcVersion = e.m.srcVersion
	}
	// Chunks nest (rpm.expand can run another %{lua:}); only the outermost
	// one owns the timeout context, as gopher-lua's VM loop keeps using it.
	if env.depth == 0 {
		ctx, cancel := context.WithTimeout(e.m.context(), luaTimeout)
		defer cancel()
		L.SetContext(ctx)
		defer L.RemoveContext()
	}
	env.depth++
	defer func() { env.depth-- }()
	fn := L.NewFunctionFromProto(proto)
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		return "", fmt.Errorf("lua script failed: %v", firstLine(err.Error()))
	}
	L.SetTop(0)
	return out.String(), nil
}

// setLuaSources publishes the spec's sources and patches as rpm does
// (sources, source_nums, patches, patch_nums), in declaration order.
func (m *Macros) setLuaSources(L *lua.LState) {
	for _, x := range []struct {
		tab         map[int]string
		names, nums string
	}{{m.sources, "sources", "source_nums"}, {m.patches, "patches", "patch_nums"}} {
		var keys []int
		for k := range x.tab {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m.order[x.names][keys[i]] < m.order[x.names][keys[j]] })
		names, nums := L.CreateTable(len(keys), 0), L.CreateTable(len(keys), 0)
		for _, k := range keys {
			names.Append(lua.LString(x.tab[k]))
			nums.Append(lua.LNumber(k))
		}
		L.SetGlobal(x.names, names)
		L.SetGlobal(x.nums, nums)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
