package cluster

import (
	"context"
	"fmt"

	"raftmq/fsm"
)

// Redrive moves up to max of a group's available dead letters (0 = all)
// back to its normal lane, partition by partition in index order, and
// returns how many moved. A partition that cannot be reached ends the walk
// with ErrUnavailable (what moved before stays moved).
func (n *Node) Redrive(ctx context.Context, q Queue, groupID string, max int) (int, error) {
	total := 0
	for i := range q.Partitions {
		left := 0
		if max > 0 {
			if left = max - total; left <= 0 {
				break
			}
		}
		res, err := n.partitionCall(ctx, q, i, &fsm.Redrive{Group: fsm.GroupID(groupID), Max: left})
		if err != nil {
			return total, unavailable(err)
		}
		rr, ok := res.(fsm.RedriveResult)
		if !ok {
			return total, fmt.Errorf("cluster: unexpected result %T", res)
		}
		total += rr.Redriven
	}
	return total, nil
}

// ExtendEntry is one entry of a lease extension, after httpapi decoded its
// handler. When Invalid is not empty the handler could not be used; the
// entry fails with that reason and the others go on.
type ExtendEntry struct {
	Partition int
	Item      fsm.ExtendItem
	Invalid   string
}

// ExtendFailure is one failed entry of a lease extension.
type ExtendFailure struct {
	Index  int
	Reason string // as AckOutcome.Reason
}

// Extend gives the named live deliveries new lease ends, keeping their
// handlers valid. Each entry is judged on its own; consecutive entries of
// one partition go to it as one command. A partition that could not be
// reached fails its entries with "unavailable"; a command whose outcome is
// unknown makes the whole request ErrUnavailable.
func (n *Node) Extend(ctx context.Context, q Queue, groupID string, deadLetter bool, entries []ExtendEntry) ([]ExtendFailure, error) {
	var fails []ExtendFailure
	for i := 0; i < len(entries); {
		if p := entries[i].Partition; entries[i].Invalid == "" && (p < 0 || p >= q.Partitions) {
			entries[i].Invalid = "handler_invalid"
		}
		if entries[i].Invalid != "" {
			fails = append(fails, ExtendFailure{Index: i, Reason: entries[i].Invalid})
			i++
			continue
		}
		j := i + 1
		for j < len(entries) && entries[j].Invalid == "" && entries[j].Partition == entries[i].Partition {
			j++
		}
		items := make([]fsm.ExtendItem, 0, j-i)
		for _, e := range entries[i:j] {
			items = append(items, e.Item)
		}
		res, err := n.partitionCall(ctx, q, entries[i].Partition, &fsm.Extend{Group: fsm.GroupID(groupID), DeadLetter: deadLetter, Items: items})
		switch {
		case err != nil && notApplied(err):
			for k := i; k < j; k++ {
				fails = append(fails, ExtendFailure{Index: k, Reason: "unavailable"})
			}
		case err != nil:
			return nil, unavailable(err)
		default:
			er, ok := res.(fsm.ExtendResult)
			if !ok || len(er.Reasons) != j-i {
				return nil, fmt.Errorf("cluster: unexpected result %T", res)
			}
			for k, why := range er.Reasons {
				if why != fsm.ReasonNone {
					fails = append(fails, ExtendFailure{Index: i + k, Reason: reasonName(why)})
				}
			}
		}
		i = j
	}
	return fails, nil
}
