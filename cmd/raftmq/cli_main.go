package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// isClientCommand reports the commands that talk to a running node, and
// version, which needs none. (keygen is clusterkey.go's.)
func isClientCommand(name string) bool {
	switch name {
	case "queue", "group", "send", "receive", "cluster", "node", "version":
		return true
	}
	return false
}

// runClient runs a client command and returns the process's exit status.
func runClient(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newClient(getenv, stdin, stdout, stderr)
	var err error
	switch args[0] {
	case "queue":
		err = c.queueCmd(args[1:])
	case "group":
		err = c.groupCmd(args[1:])
	case "send":
		err = c.send(args[1:])
	case "receive":
		err = c.receive(args[1:])
	case "cluster":
		err = c.clusterCmd(args[1:])
	case "node":
		err = c.nodeCmd(args[1:])
	case "version":
		err = noArgs("version", args[1:], stderr)
		if err == nil {
			_, err = fmt.Fprintln(stdout, versionText())
		}
	}
	return exitCode(stderr, err)
}

// noArgs parses the flags of a command that takes none but -h.
func noArgs(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("raftmq "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "Usage: raftmq %s\n", name) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments", name)
	}
	return nil
}

// leadingFlagsLast lets the shared flags come before the command
// (`raftmq --server URL queue list`): it moves everything before the first
// client command name to the end, where the command's parser takes flags.
func leadingFlagsLast(args []string) []string {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return args
	}
	for i, a := range args {
		if isClientCommand(a) && i > 0 && !strings.Contains(args[i-1], "=") && isValueFlag(args[i-1]) {
			continue // the value of a flag such as --project
		}
		if isClientCommand(a) {
			return append(slices.Clone(args[i:]), args[:i]...)
		}
	}
	return args
}

// isValueFlag reports a shared flag that takes a separate value.
func isValueFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "server", "project", "access-key", "secret-key", "o":
		return true
	}
	return false
}
