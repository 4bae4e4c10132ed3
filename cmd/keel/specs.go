package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/keel-linux/keel/pkg/spec"
	"github.com/spf13/cobra"
)

// specFlags are shared by `keel specs` and `keel graph`.
type specFlags struct {
	defines []string
	load    []string
	luaPath []string
	noShell bool
	arch    string
}

func (f *specFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.defines, "define", "D", nil, "define a macro, as rpm: --define 'NAME VALUE' (repeatable)")
	fl.StringArrayVar(&f.load, "load", nil, "load a macro file after rpm's defaults (repeatable)")
	fl.StringArrayVar(&f.luaPath, "lua-path", nil, "directory for Lua require() (default /usr/lib/rpm/lua)")
	fl.BoolVar(&f.noShell, "no-shell", false, "do not run %(...) shell expansions (they expand to nothing)")
	fl.StringVar(&f.arch, "arch", "", "target CPU for %ifarch and _target_cpu (default: keel.yaml's arch; x86_64 for PATHs)")
}

// readSpecs parses the given specs with the flags' options, or without
// PATH the tree's SPECS/*/*.spec with the distribution's own reader
// configuration (distro.SpecOptions: what `keel build` plans from), the
// flags on top.
func (f *specFlags) readSpecs(ctx context.Context, a *app, paths []string) ([]*spec.Spec, []error, error) {
	opts := spec.Options{Arch: "x86_64", Shell: spec.ShellRun}
	if len(paths) == 0 {
		d, err := a.distro()
		if err != nil {
			return nil, nil, err
		}
		if paths, err = d.SpecPaths(); err != nil {
			return nil, nil, err
		}
		if len(paths) == 0 {
			return nil, nil, fmt.Errorf("no specs under %s", d.SpecsDir())
		}
		opts = d.SpecOptions()
	}
	opts.Defines = append(opts.Defines, f.defines...)
	opts.Load = append(opts.Load, f.load...)
	opts.LuaPath = f.luaPath
	if f.arch != "" {
		opts.Arch = f.arch
	}
	if f.noShell {
		opts.Shell = spec.ShellOff
	}
	r, err := spec.NewReader(opts)
	if err != nil {
		return nil, nil, err
	}
	// More workers than CPUs: a worker waiting on a %(...) child (or on
	// another worker's run of the same host query) leaves its CPU idle, and
	// specs with %(...) are parsed first.
	all, allErrs := r.ParseFilesContext(ctx, paths, 4*runtime.GOMAXPROCS(0))
	if err := ctx.Err(); err != nil {
		return nil, nil, err // interrupted: not one "canceled" line per spec
	}
	var specs []*spec.Spec
	var errs []error
	for i, s := range all {
		if allErrs[i] != nil {
			errs = append(errs, allErrs[i])
			continue
		}
		specs = append(specs, s)
	}
	return specs, errs, nil
}

func newSpecsCmd(a *app) *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "specs [PATH...]",
		Short: "Read RPM spec files natively (names, EVRs, packages, dependencies) as rpmspec -q would",
		Long: `Read RPM spec files with keel's own rpm-compatible reader and print what they
define: source package, EVR, binary packages with their Requires/Provides/
Conflicts/Obsoletes/Recommends, BuildRequires, sources, patches and changelog.
Without PATH, reads <distro>/SPECS/*/*.spec exactly as keel build plans
from: the distribution's macros.keel, keel.yaml's dist tag, identity macros
and macros map, and its arch.`,
		Example: `  keel specs                          # the tree's packages, EVRs with the dist tag
  keel specs --json | jq -r .name
  keel specs -D 'dist .el9' foo.spec  # a spec outside the tree`,
		RunE: func(cmd *cobra.Command, args []string) error {
			specs, errs, err := f.readSpecs(cmd.Context(), a, args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json {
				if err := spec.WriteJSONLines(out, specs); err != nil {
					return err
				}
			} else {
				for _, s := range specs {
					fmt.Fprintf(out, "%s %s (%s)\n", s.Name, s.EVR(), s.Path)
					for _, p := range s.Packages {
						fmt.Fprintf(out, "  %s.%s\n", p.Name, p.Arch)
					}
					if len(s.BuildRequires) > 0 {
						fmt.Fprintf(out, "  BuildRequires: %s\n", joinDeps(s.BuildRequires))
					}
					for _, w := range s.Warnings {
						fmt.Fprintln(cmd.ErrOrStderr(), "keel specs: warning:", w)
					}
				}
			}
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "keel specs:", e)
			}
			if len(errs) > 0 {
				return fmt.Errorf("%d of %d specs failed to parse", len(errs), len(errs)+len(specs))
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func joinDeps(ds []spec.Dep) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}
