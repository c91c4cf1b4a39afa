package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// replaceStepWait bounds each step of a T5 replacement.
const replaceStepWait = 45 * time.Second

// replace is T5: the node that leads the fewest partitions (a follower) is
// killed, removed from the cluster once a live node lists it dead (DELETE
// /v1/cluster/nodes/{id}), its data directory is wiped once it is gone from
// the node list, and it is started again empty under the same id: it joins
// as a new member and the cluster moves replicas back to it. Every second
// replacement skips the removal: the node is wiped and started again at
// once, and the cluster must see the new incarnation of its data directory
// and replace the old one itself. Each step is recorded as a nemesis op; a
// step that does not happen in time is a nemesis error (the run fails), and
// the node is started again anyway.
func (n *nemesis) replace(ctx context.Context) {
	n.mu.Lock()
	leaders := n.leaders(ctx)
	v := -1
	for i, p := range n.procs {
		if n.faulty[i] == "" && p.Running() && (v < 0 || len(ledBy(leaders, i)) < len(ledBy(leaders, v))) {
			v = i
		}
	}
	if v < 0 {
		n.mu.Unlock()
		return
	}
	n.faulty[v] = "replace"
	n.record("replace-kill", []int{v}, ledBy(leaders, v))
	if err := n.procs[v].Signal(syscall.SIGKILL); err != nil {
		n.errs = append(n.errs, err)
	}
	n.replacements++
	unremoved := n.replacements%2 == 0
	n.mu.Unlock()
	var err error
	if unremoved {
		err = n.wipe(v)
	} else {
		err = n.removeAndWipe(ctx, v)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.errs = append(n.errs, err)
	}
	n.restart(v)
}

// removeAndWipe removes dead node v from the cluster and wipes its data.
func (n *nemesis) removeAndWipe(ctx context.Context, v int) error {
	id := n.procs[v].ID
	if err := n.awaitNode(ctx, v, func(state string) bool { return state == "dead" }); err != nil {
		return fmt.Errorf("chaos: T5: %s never listed dead: %w", id, err)
	}
	removed := false
	for k := 0; k < 30 && !removed; k++ {
		for i, p := range n.procs {
			if i == v || !p.Running() {
				continue
			}
			a := n.c.do(ctx, p, "DELETE", "/v1/cluster/nodes/"+id, nil, 10*time.Second)
			if a.status == 202 {
				removed = true
				break
			}
		}
		if !removed {
			time.Sleep(time.Second) // a retry of the admin request, not a synchronisation
		}
	}
	if !removed {
		return fmt.Errorf("chaos: T5: removing %s was not accepted", id)
	}
	n.record("replace-remove", []int{v}, nil)
	if err := n.awaitNode(ctx, v, func(state string) bool { return state == "" }); err != nil {
		return fmt.Errorf("chaos: T5: %s still listed after its removal: %w", id, err)
	}
	return n.wipe(v)
}

// wipe deletes killed node v's data directory.
func (n *nemesis) wipe(v int) error {
	if err := os.RemoveAll(n.procs[v].DataDir); err != nil {
		return fmt.Errorf("chaos: T5: wipe %s: %w", n.procs[v].ID, err)
	}
	n.record("replace-wipe", []int{v}, nil)
	return nil
}

// awaitNode polls the other nodes' view until node v's state ("" when it
// is not listed) satisfies ok, for up to replaceStepWait.
func (n *nemesis) awaitNode(ctx context.Context, v int, ok func(state string) bool) error {
	deadline := time.Now().Add(replaceStepWait)
	last := "no answer"
	for time.Now().Before(deadline) {
		for i, p := range n.procs {
			if i == v || !p.Running() {
				continue
			}
			st, err := n.c.status(ctx, p)
			if err != nil {
				continue
			}
			state := ""
			if k := slices.IndexFunc(st.Nodes, func(x nodeStatus) bool { return x.ID == n.procs[v].ID }); k >= 0 {
				state = st.Nodes[k].State
			}
			if ok(state) {
				return nil
			}
			last = fmt.Sprintf("%s sees %q", p.ID, state)
			break
		}
		time.Sleep(500 * time.Millisecond) // polling a condition against a deadline
	}
	return fmt.Errorf("not within %v (%s)", replaceStepWait, last)
}
