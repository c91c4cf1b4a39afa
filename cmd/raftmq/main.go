package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: raftmq <command> [flags]

node:
  serve                          run one node (raftmq serve -h for its flags)
  loadtest                       drive a cluster through the DMS API and report

client (flags: --server URL, --project P, --access-key/--secret-key, -o table|json):
  queue create NAME [--mode NORMAL|FIFO] [--redrive N]
  queue list | queue show NAME | queue delete NAME
  group create QUEUE NAME | group list QUEUE | group delete QUEUE NAME
  group redrive QUEUE NAME [--max N]
  send QUEUE [BODY...]           no BODY: one message per line of standard input
  receive QUEUE GROUP [--max N] [--wait S] [--no-ack]
  cluster status
  node decommission ID | node remove ID

other:
  version                        print this binary's version
  keygen                         print a new cluster key (for serve --cluster-key)

Every command takes -h.`)
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "serve":
		m := NewMain()
		if err := m.ParseFlags(args[1:], os.Getenv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "raftmq serve:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := m.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "raftmq serve:", err)
			return 1
		}
		return 0
	case "loadtest":
		l := NewLoadtestCmd()
		if err := l.ParseFlags(args[1:], time.Now()); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "raftmq loadtest:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		var progress io.Writer
		if isTerminal(os.Stdout) {
			progress = os.Stdout
		}
		return l.Run(ctx, os.Stdout, os.Stderr, progress)
	}
	args = leadingFlagsLast(args)
	if isClientCommand(args[0]) {
		return runClient(args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	}
	switch args[0] {
	case "keygen":
		return keygen(args[1:], os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		usage()
		return 0
	default:
		fmt.Fprintf(os.Stderr, "raftmq: unknown command %q\n", args[0])
		usage()
		return 2
	}
}
