package main

import (
	"encoding/csv"
	"strings"
)

// listFlag is a repeatable string flag: each occurrence appends (the first
// replaces the default), and with split set a value is also cut at commas
// as CSV, as pflag's StringSlice. pflag's own StringArray and StringSlice
// build an encoding/csv writer (4 KiB buffer) to print every such flag's
// default when the flag is defined, so a dozen of them cost every keel
// command, however small, before it runs; this one formats only for help.
type listFlag struct {
	p       *[]string
	split   bool
	changed bool
}

func newListFlag(p *[]string, split bool) *listFlag { return &listFlag{p: p, split: split} }

func (f *listFlag) Set(v string) error {
	vals := []string{v}
	if f.split && v != "" {
		r, err := csv.NewReader(strings.NewReader(v)).Read()
		if err != nil {
			return err
		}
		vals = r
	}
	if !f.changed {
		*f.p = nil
		f.changed = true
	}
	*f.p = append(*f.p, vals...)
	return nil
}

// String is "" for an empty list, which pflag's help treats as no default.
func (f *listFlag) String() string {
	if len(*f.p) == 0 {
		return ""
	}
	return "[" + strings.Join(*f.p, ",") + "]"
}

// Type names the value as pflag's own types do, so help reads the same.
func (f *listFlag) Type() string {
	if f.split {
		return "stringSlice"
	}
	return "stringArray"
}
