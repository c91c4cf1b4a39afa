package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"raftmq/chaos"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	scenarios := fs.String("scenario", "T0,T1,T2,T3", "scenarios to run, comma separated ("+strings.Join(chaos.Scenarios(), ", ")+"; T4, T4-deaf, T5, T6, T7, T8, T9 and T9-enospc only by name)")
	nodes := fs.Int("nodes", 3, "cluster size, 3 to 9 (T1 and T5 on five nodes: --nodes 5; T2's shapes assume three)")
	seed := fs.Uint64("seed", 0, "seed of the first run (0: random); run k uses seed+k")
	duration := fs.Duration("duration", 0, "fault phase of each run (default 3m, 40s with --short)")
	runs := fs.Int("runs", 1, "runs of each scenario")
	bin := fs.String("raftmq", "bin/raftmq", "the raftmq binary")
	out := fs.String("out", "", "output directory (default: a new directory under the system temp dir)")
	short := fs.Bool("short", false, "the short variant (fewer partitions, lower rates)")
	negative := fs.Bool("negative-control", false, "start nodes with --unsafe-ack-before-commit (T6: --unsafe-no-sync): each run must report loss")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodes < 3 || *nodes > 9 {
		fmt.Fprintln(os.Stderr, "chaos: --nodes must be 3 to 9")
		return 2
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if *out == "" {
		if *out, err = os.MkdirTemp("", "raftmq-chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := 0
	var reps []*chaos.Report
	k := uint64(0)
	for _, sc := range strings.Split(*scenarios, ",") {
		sc = strings.TrimSpace(sc)
		for r := 0; r < max(*runs, 1) && r < 1000; r++ {
			cfg := chaos.DefaultConfig(sc)
			if *short {
				cfg = chaos.ShortConfig(sc)
			}
			if *duration > 0 {
				cfg.Duration = *duration
			}
			cfg.Nodes = *nodes
			if *seed != 0 {
				cfg.Seed = *seed + k
			}
			k++
			cfg.Bin = abs
			if *negative && sc == "T6" {
				cfg.UnsafeNoSync = true // power losses find what was not fsynced
			} else {
				cfg.UnsafeAckBeforeCommit = *negative
			}
			cfg.OutDir = filepath.Join(*out, fmt.Sprintf("%s-%d-%s", sc, r, time.Now().Format("150405")))
			rep, err := chaos.Run(ctx, cfg)
			if err != nil {
				fmt.Fprintf(os.Stderr, "chaos: %s run %d: %v\n", sc, r, err)
				failed++
				if ctx.Err() != nil {
					return 1
				}
				continue
			}
			printReport(rep)
			reps = append(reps, rep)
			if !rep.Passed() {
				failed++
			}
		}
	}
	if len(reps) > 0 {
		fmt.Println("\nchaos: summary (docs/RELIABILITY.md's results table)")
		fmt.Println(chaos.SummaryHeader)
		for _, s := range chaos.Summarise(reps) {
			fmt.Println(s.Row())
		}
	}
	if failed > 0 {
		fmt.Printf("chaos: %d run(s) FAILED; histories and data under %s\n", failed, *out)
		return 1
	}
	fmt.Printf("chaos: all runs passed; histories under %s\n", *out)
	return 0
}

func printReport(r *chaos.Report) {
	v := r.Verdict
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	kind := ""
	if r.Negative {
		kind = " (negative control: must lose)"
	}
	fmt.Printf("\n== %s %s%s on %d nodes, seed %d: %.0fs, %d faults, produced %d ok / %d unknown / %d error, %d deliveries, %d acks\n",
		verdict, r.Scenario, kind, r.Nodes, r.Seed, r.DurationS, r.Faults, v.ProducedOK, v.ProducedUnknown, v.ProducedError, v.Deliveries, v.Acks)
	fmt.Printf("   lost %d, lostAck %d, unexpected %d, acked twice %d, redelivered after ack %d, overlapping leases %d (eps %d ms),\n",
		v.Lost, v.LostAck, v.Unexpected, v.AckedTwice, v.RedeliveredAfterAck, v.OverlappingLeases, r.LeaseEpsMs)
	fmt.Printf("   accepted expired %d, accepted superseded %d, ack prefix %d, over-delivered %d, missing dead letter %d, FIFO order %d,\n",
		v.AcceptedExpired, v.AcceptedSuperseded, v.AckPrefix, v.OverDelivered, v.MissingDeadLetter, v.FIFOOrder)
	fmt.Printf("   committed lost %d, rolled back delivered %d, dedup stored twice %d,\n",
		v.CommittedLost, v.RolledBackDelivered, v.DedupStoredTwice)
	fmt.Printf("   duplicates explained %d / unexplained %d; replicas compared %d, digest problems %d, raft entries %d, elections %d; recovery p50 %.2fs p99 %.2fs\n",
		v.DupExplained, v.DupUnexplained, r.ReplicasCompared, len(r.DigestMismatches), r.RaftEntries, r.Elections, r.RecoveryP50S, r.RecoveryP99S)
	for _, s := range append(append(append([]string{}, r.DrainLeft...), r.DigestMismatches...), r.NemesisErrors...) {
		fmt.Println("   !", s)
	}
	for _, s := range r.Refused {
		fmt.Println("   refused to start (kept down):", s)
	}
	for _, e := range v.Examples[:min(len(v.Examples), 10)] {
		fmt.Println("   -", e)
	}
	for _, a := range r.Availability {
		b, _ := json.Marshal(a)
		fmt.Println("   availability", string(b))
	}
	fmt.Println("   dir", r.Dir)
}
