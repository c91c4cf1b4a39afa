package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// printFlags writes fs's flags with their defaults to fs.Output(), in the
// --name form the documentation uses, leaving out the hidden ones.
func printFlags(fs *flag.FlagSet, hidden ...string) {
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(hidden, f.Name) {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name
		}
		if name != "" {
			line += " " + name
		}
		def := f.DefValue
		if def != "" && def != "false" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(fs.Output(), "%s\n    \t%s\n", line, usage)
	})
}

// byteSize is a flag of a number of bytes: an integer, optionally followed
// by KiB, MiB, GiB or TiB.
type byteSize uint64

var byteUnits = []struct {
	suffix string
	mult   uint64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}}

func (b *byteSize) String() string {
	for _, u := range byteUnits {
		if uint64(*b) >= u.mult && uint64(*b)%u.mult == 0 {
			return strconv.FormatUint(uint64(*b)/u.mult, 10) + u.suffix
		}
	}
	return "0"
}

func (b *byteSize) Set(s string) error {
	for _, u := range byteUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
		if err != nil || n > math.MaxUint64/u.mult {
			return fmt.Errorf("%q is not a size in bytes (e.g. 536870912 or 512MiB)", s)
		}
		*b = byteSize(n * u.mult)
		return nil
	}
	return fmt.Errorf("%q is not a size in bytes", s)
}
