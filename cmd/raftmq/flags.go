package main

import (
	"flag"
	"fmt"
	"slices"
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
