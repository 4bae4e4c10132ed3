package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// rangeFlag is a numeric flag that refuses values outside [min, max] when
// it is parsed (`-j -3` is a usage error, not a pipeline's surprise). Every
// numeric flag of keel is one (TestCommandTree checks).
type rangeFlag[T int | time.Duration] struct {
	p        *T
	min, max T
	parse    func(string) (T, error)
	typ      string
}

func (f *rangeFlag[T]) Set(v string) error {
	n, err := f.parse(v)
	if err != nil {
		return err
	}
	if n < f.min || n > f.max {
		return fmt.Errorf("%v is out of range: want %v to %v", n, f.min, f.max)
	}
	*f.p = n
	return nil
}

func (f *rangeFlag[T]) String() string { return fmt.Sprint(*f.p) }
func (f *rangeFlag[T]) Type() string   { return f.typ }

// intFlagP defines a range-checked int flag (shorthand may be "").
func intFlagP(fs *pflag.FlagSet, p *int, name, shorthand string, def, min, max int, usage string) {
	*p = def
	fs.VarP(&rangeFlag[int]{p: p, min: min, max: max, typ: "int", parse: func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", v)
		}
		return n, nil
	}}, name, shorthand, usage)
}

// durationFlagP defines a range-checked duration flag.
func durationFlagP(fs *pflag.FlagSet, p *time.Duration, name string, def, min, max time.Duration, usage string) {
	*p = def
	fs.Var(&rangeFlag[time.Duration]{p: p, min: min, max: max, typ: "duration", parse: func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90s or 5m", v)
		}
		return d, nil
	}}, name, usage)
}

// deprecatedAlias keeps an old spelling of a flag of fs (cmd's flags or
// persistent flags) working for one release: hidden from help, and a
// warning naming the new spelling on stderr when used.
func deprecatedAlias(cmd *cobra.Command, fs *pflag.FlagSet, old, shorthand, canonical string) {
	f := fs.Lookup(canonical)
	fs.VarP(f.Value, old, shorthand, f.Usage)
	deprecate(cmd, fs, old, "--"+canonical)
}

// deprecate marks fs's flag name as an old spelling of instead. Not
// pflag's MarkDeprecated: cobra prints that warning on the command's
// output, which is stdout here (`keel keys export --dir D > key.asc`
// would write it into the key file).
func deprecate(cmd *cobra.Command, fs *pflag.FlagSet, name, instead string) {
	f := fs.Lookup(name)
	f.Value = &deprecatedValue{Value: f.Value, warn: func() {
		fmt.Fprintf(cmd.ErrOrStderr(), "keel: --%s is deprecated and goes away in the next release; use %s\n", name, instead)
	}}
	f.Hidden = true
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[deprecatedAnnotation] = []string{instead}
}

// deprecatedAnnotation marks an old flag spelling (TestCommandTree skips it).
const deprecatedAnnotation = "keel/deprecated"

type deprecatedValue struct {
	pflag.Value
	warn func()
}

func (d *deprecatedValue) Set(v string) error {
	d.warn()
	return d.Value.Set(v)
}

// defineFlag is --define/-D for commands that read another tree's specs.
func defineFlag(cmd *cobra.Command, p *[]string) {
	cmd.Flags().StringArrayVarP(p, "define", "D", nil, "define a macro for a spec-only source tree, as rpm: --define 'dist .azl3' (repeatable)")
}
