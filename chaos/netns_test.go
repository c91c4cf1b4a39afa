package chaos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fakeNet is a Net of three nodes whose fault commands are recorded, not
// run; a command containing failOn fails with tc's message for a kernel
// without netem.
func fakeNet(failOn string) (*Net, *[]string) {
	var cmds []string
	n := &Net{Prefix: "rmqtest", Subnet: "10.250.1", NodeIP: []string{"10.250.1.11", "10.250.1.12", "10.250.1.13"}}
	n.exec = func(args ...string) error {
		c := strings.Join(args, " ")
		cmds = append(cmds, c)
		if failOn != "" && strings.Contains(c, failOn) {
			return errors.New(c + ": exit status 2: Error: Specified qdisc kind is unknown.")
		}
		return nil
	}
	return n, &cmds
}

func TestNet_NetemSlowsOnlyNodeLinks(t *testing.T) {
	n, cmds := fakeNet("")
	if err := n.Netem(DefaultSchedule().Netem); err != nil {
		t.Fatal(err)
	}
	want := "ip netns exec rmqtest1 tc qdisc add dev eth0 parent 1:2 handle 20: netem delay 50ms 20ms loss 2% reorder 5%"
	if !slices.Contains(*cmds, want) {
		t.Fatalf("no %q in %q", want, *cmds)
	}
	// Node 1 sends to nodes 2 and 3 through netem, not to itself nor to
	// the harness (10.250.1.1).
	var filters []string
	for _, c := range *cmds {
		if strings.HasPrefix(c, "ip netns exec rmqtest1 tc filter") {
			filters = append(filters, c[strings.Index(c, "dst ")+4:])
		}
	}
	if !slices.Equal(filters, []string{"10.250.1.12/32 flowid 1:2", "10.250.1.13/32 flowid 1:2"}) {
		t.Fatalf("node 1 filters %q", filters)
	}
	*cmds = nil
	if err := n.Restore(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		del := fmt.Sprintf("ip netns exec rmqtest%d tc qdisc del dev eth0 root", i)
		if !slices.Contains(*cmds, del) {
			t.Errorf("Restore did not run %q: %q", del, *cmds)
		}
	}
}

// A kernel without netem fails T4 with tc's own message, and the qdisc
// already added is still removed.
func TestNet_NetemFailureIsReportedAndCleanedUp(t *testing.T) {
	n, cmds := fakeNet(" netem ")
	err := n.Netem(DefaultSchedule().Netem)
	if err == nil || !strings.Contains(err.Error(), "Specified qdisc kind is unknown") || !strings.Contains(err.Error(), "netem delay 50ms") {
		t.Fatalf("error %v: want tc's message and the command", err)
	}
	*cmds = nil
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*cmds, []string{"ip netns exec rmqtest1 tc qdisc del dev eth0 root"}) {
		t.Fatalf("cleanup after a failed Netem ran %q", *cmds)
	}
}

func TestNet_DeafenHearAndHealTouchOnlyTheirRules(t *testing.T) {
	n, cmds := fakeNet("")
	if err := n.Deafen(1, raftPort, 101); err != nil {
		t.Fatal(err)
	}
	if err := n.Cut(0, 2); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ip netns exec rmqtest2 iptables -w -A INPUT -p tcp --dport 9001 -m length --length 101:65535 -j DROP",
		"ip netns exec rmqtest2 iptables -w -A INPUT -p tcp --sport 9001 -m length --length 101:65535 -j DROP",
	} {
		if !slices.Contains(*cmds, want) {
			t.Fatalf("no %q in %q", want, *cmds)
		}
	}
	*cmds = nil
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if len(*cmds) != 4 || slices.ContainsFunc(*cmds, func(c string) bool { return strings.Contains(c, "length") }) {
		t.Fatalf("Heal removed %q; want the 4 cut rules only", *cmds)
	}
	*cmds = nil
	if err := n.Hear(1); err != nil {
		t.Fatal(err)
	}
	if len(*cmds) != 2 || !strings.Contains((*cmds)[0], "rmqtest2 iptables -w -D INPUT -p tcp --dport 9001") {
		t.Fatalf("Hear removed %q", *cmds)
	}
	*cmds = nil
	if err := n.Restore(); err != nil || len(*cmds) != 0 {
		t.Fatalf("Restore after everything was removed: %v %q", err, *cmds)
	}
}
