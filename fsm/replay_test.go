package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// step is one generated Raft log entry: a command at its index, or (cmd nil)
// a configuration entry that only the FSM adapter sees.
type step struct {
	index uint64
	cmd   Command
	data  []byte // Encode(cmd)
}

// handle is a delivery seen in a lease result, for later acks.
type handle struct {
	group GroupID
	dl    bool
	item  AckItem
}

// replayCounts records what a generated log exercised, so that the test
// fails if the generator stops covering a rule.
type replayCounts struct {
	enqueued, delivered, dlDelivered, acked, dlAcked int
	reasons                                          map[Reason]int
	expired, deadLettered, trimmed, forgets, back    int
	trimmedMsgs                                      int
	ackedTrims                                       int // commands after which a message inside retention had left
	redriven, extended, extendFailed                 int
	// transactional messages and deduplication ids
	halves, checked, committed, rolledBack, staleEnds int
	dedupHits, dedupStored                            int
}

// generate builds a log of n commands (plus configuration entries) by
// applying each to ref, so that acks can name real deliveries. Everything
// comes from a fixed seed.
func generate(t *testing.T, seed uint64, pol Policy, n int) ([]step, []Result, *State, replayCounts) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng2 := rand.New(rand.NewPCG(seed+1, seed))
	trng := rand.New(rand.NewPCG(seed, 0x7478)) // transactional and deduplicating commands
	ref := NewState()
	groups := []GroupID{"g-a", "g-b", "g-c"}
	var (
		steps   []step
		results []Result
		fresh   = map[handle][]AckItem{} // deliveries not yet named in an ack, by (group, lane); never iterated
		stale   = map[handle][]AckItem{} // deliveries already named in an ack
		lastDLB = map[GroupID]uint64{}
		keys    []handle // every (group, lane), in a fixed order
		lastKey handle
		lastDL  = map[GroupID]int64{}
		counts  = replayCounts{reasons: map[Reason]int{}}
		now     = int64(1_700_000_000_000)
		idx     uint64
		ends    []TxnEnd // handles of half messages seen, current or not
		// producedAt is every offset's produce time, as the reference stored it.
		producedAt []int64
	)
	// Bodies are slices of one random text: messages are immutable, and
	// filling each byte by byte would dominate the test's time.
	text := make([]byte, 64<<10)
	for i := range text {
		text[i] = byte('a' + rng.IntN(26))
	}
	for _, g := range groups {
		keys = append(keys, handle{group: g}, handle{group: g, dl: true})
	}
	hdr := func() Header {
		// The leader's clock: mostly forward, sometimes back (a new leader
		// with a slower clock), three times 36 h forward in quick succession, so
		// that dead letters reach their retention.
		switch r := rng.IntN(1000); {
		case len(results) == n/2 || len(results) == n/2+20 || len(results) == n/2+40:
			now += DeadLetterRetentionMs / 2
		case r < 8:
			now -= rng.Int64N(20_000)
			counts.back++
		default:
			now += rng.Int64N(40)
		}
		return Header{Now: now, Policy: pol}
	}
	for len(results) < n {
		if rng.IntN(50) == 0 {
			idx++
			steps = append(steps, step{index: idx})
			continue
		}
		var c Command
		// Lease extensions and redrives draw from their own generator, so
		// that the rest of the log is what it was before they existed.
		switch r := rng2.IntN(100); {
		case r < 3:
			key := keys[rng2.IntN(len(keys))]
			if rng2.IntN(2) == 0 {
				key = lastKey
			}
			c = genExtend(rng2, hdr(), key, fresh[key], stale[key])
		case r < 4:
			c = &Redrive{Header: hdr(), Group: groups[rng2.IntN(len(groups))], Max: rng2.IntN(4)}
		}
		if c == nil && trng.IntN(100) < 6 {
			// Transactional and deduplicating commands likewise.
			// At the state's clock or later: the generator's own clock
			// steps back now and then, and half messages fall due only
			// as the state's clock moves on.
			c = genTxn(trng, Header{Now: max(now, ref.Now()) + trng.Int64N(60), Policy: pol}, text, ends)
		}
		switch r := rng.IntN(100); {
		case c != nil:
		case r < 20:
			msgs := make([]Message, 1+rng.IntN(10))
			for i := range msgs {
				size := 1 + rng.IntN(600)
				at := rng.IntN(len(text) - size)
				msgs[i].Body = text[at : at+size : at+size]
				if rng.IntN(3) == 0 {
					msgs[i].Attributes = []byte(`{"k":"v"}`)
				}
				// RocketMQ additions: tags, sharding keys, delayed delivery.
				if rng.IntN(3) == 0 {
					msgs[i].Tag = [...]string{"", "A", "B"}[rng.IntN(3)]
					msgs[i].Key = [...]string{"", "k1", "k2"}[rng.IntN(3)]
					msgs[i].Props = []byte("KEYS:x|")
				}
				if rng.IntN(6) == 0 {
					msgs[i].DeliverAt = now + rng.Int64N(3000)
				}
			}
			c = &Enqueue{Header: hdr(), Messages: msgs}
		case r < 52:
			maxBytes := MaxLeaseBytes
			if rng.IntN(4) == 0 {
				maxBytes = rng.IntN(2000)
			}
			l := &Lease{Header: hdr(), Group: groups[rng.IntN(len(groups))], Max: 1 + rng.IntN(16),
				MaxBytes: maxBytes, AckWaitMs: 50 + rng.Int64N(1500), DeadLetter: rng.IntN(5) == 0}
			switch rng.IntN(6) {
			case 0:
				l.Tags = []string{"A"}
			case 1:
				l.Tags = []string{"A", "B"}
			case 2, 3:
				l.Ordered = true
			}
			c = l
		case r < 86:
			key := lastKey
			if rng.IntN(10) < 3 {
				key = keys[rng.IntN(len(keys))]
			}
			c = genAck(rng, hdr(), key, fresh[key], stale[key], stale[keys[rng.IntN(len(keys))]])
		case r < 99:
			c = &Tick{Header: hdr()}
		default:
			if rng.IntN(4) == 0 {
				c = &Forget{Header: hdr(), Group: groups[rng.IntN(len(groups))]}
				counts.forgets++
			} else {
				c = &Tick{Header: hdr()}
			}
		}
		data, err := Encode(c)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		idx++
		res := ref.Apply(idx, c)
		steps = append(steps, step{index: idx, cmd: c, data: data})
		results = append(results, res)
		ends = countTxn(&counts, c, res, ends)
		switch res := res.(type) {
		case EnqueueResult:
			counts.enqueued += res.Count
		case LeaseResult:
			l := c.(*Lease)
			key := handle{group: l.Group, dl: l.DeadLetter}
			for _, d := range res.Deliveries {
				fresh[key] = append(fresh[key], AckItem{Offset: d.Offset, DeliveryID: d.DeliveryID})
				if l.DeadLetter {
					counts.dlDelivered++
				} else {
					counts.delivered++
				}
			}
			if len(res.Deliveries) > 0 {
				lastKey = key
			}
			if p := fresh[key]; len(p) > 100 {
				fresh[key] = append(p[:0:0], p[len(p)-50:]...)
			}
		case AckResult:
			a := c.(*Ack)
			key := handle{group: a.Group, dl: a.DeadLetter}
			for _, it := range a.Items {
				it.Success = false
				if i := slices.Index(fresh[key], it); i >= 0 {
					fresh[key] = slices.Delete(fresh[key], i, i+1)
				}
				stale[key] = append(stale[key], it)
			}
			if p := stale[key]; len(p) > 300 {
				stale[key] = append(p[:0:0], p[len(p)-200:]...)
			}
			counts.reasons[res.Reason]++
			if c.(*Ack).DeadLetter {
				counts.dlAcked += res.Success
			} else {
				counts.acked += res.Success
			}
		case TickResult:
			counts.expired += res.Expired
		case RedriveResult:
			counts.redriven += res.Redriven
		case ExtendResult:
			for _, why := range res.Reasons {
				if why == ReasonNone {
					counts.extended++
				} else {
					counts.extendFailed++
				}
			}
		}
		for _, g := range groups {
			pd := ref.Stats(g).ProducedDeadLetters
			if pd > lastDL[g] {
				counts.deadLettered += int(pd - lastDL[g])
			}
			lastDL[g] = pd
		}
		for _, g := range groups {
			if gs, ok := ref.groups[g]; ok && gs.dl.base > lastDLB[g] {
				counts.trimmed += int(gs.dl.base - lastDLB[g])
				lastDLB[g] = gs.dl.base
			} else if !ok {
				lastDLB[g] = 0
			}
		}
		if first, _ := ref.Offsets(); first > 0 {
			counts.trimmedMsgs = int(first)
		}
		for o := max(ref.log.base, uint64(len(producedAt))); o < ref.log.end(); o++ {
			producedAt = append(producedAt, ref.log.at(o).producedAt)
		}
		if cutoff, _ := retentionCutoff(ref.Now(), pol.RetentionMs); ref.log.base > 0 && producedAt[ref.log.base-1] >= cutoff {
			counts.ackedTrims++
		}
		if len(results)%1000 == 0 {
			if err := invariantError(ref); err != nil {
				t.Fatalf("after %d commands: %v", len(results), err)
			}
		}
	}
	return steps, results, ref, counts
}

// genAck builds an ordered ack for key's group and lane: mostly a run of
// its newest deliveries not yet acked (in delivery order, as a FIFO consumer
// acks), mixed with fail statuses, stale and duplicate handles, another
// lane's or group's handles, made-up items and, rarely, a released request.
func genAck(rng *rand.Rand, h Header, key handle, fresh, stale, other []AckItem) *Ack {
	a := &Ack{Header: h, Group: key.group, DeadLetter: key.dl}
	n := 1 + rng.IntN(10)
	start := max(0, len(fresh)-n-rng.IntN(3))
	for i := range n {
		var it AckItem
		switch r := rng.IntN(100); {
		case r < 90 && start+i < len(fresh):
			it = fresh[start+i]
		case r < 95 && len(stale) > 0:
			it = stale[rng.IntN(len(stale))] // already acked, released or superseded
		case r < 98 && len(other) > 0:
			it = other[rng.IntN(len(other))] // probably another lane's or group's
		default:
			it = AckItem{Offset: rng.Uint64N(4000), DeliveryID: rng.Uint64N(40000)}
		}
		it.Success = rng.IntN(15) != 0
		a.Items = append(a.Items, it)
	}
	a.Released = rng.IntN(40) == 0
	return a
}

// genExtend builds a lease extension for key's group and lane: mostly its
// newest deliveries, sometimes stale ones.
func genExtend(rng *rand.Rand, h Header, key handle, fresh, stale []AckItem) *Extend {
	e := &Extend{Header: h, Group: key.group, DeadLetter: key.dl}
	for range 1 + rng.IntN(4) {
		var it AckItem
		switch {
		case len(fresh) > 0 && rng.IntN(4) != 0:
			it = fresh[len(fresh)-1-rng.IntN(min(len(fresh), 5))]
		case len(stale) > 0:
			it = stale[rng.IntN(len(stale))]
		default:
			it = AckItem{Offset: rng.Uint64N(4000), DeliveryID: rng.Uint64N(40000)}
		}
		// Half of them shorten the lease to almost nothing, so that the
		// extended deliveries expire and their acks find them expired.
		wait := 50 + rng.Int64N(1500)
		if rng.IntN(2) == 0 {
			wait = rng.Int64N(20)
		}
		e.Items = append(e.Items, ExtendItem{Offset: it.Offset, DeliveryID: it.DeliveryID, AckWaitMs: wait})
	}
	return e
}

func snapshotBytes(t *testing.T, s *State) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReplay_DeterministicAcrossReplicasAndRestore(t *testing.T) {
	policies := []struct {
		name string
		pol  Policy
	}{
		{"normal", Policy{MaxConsumeCount: 3, RetentionMs: 60_000}},
		{"fifo", Policy{FIFO: true, MaxConsumeCount: 2, RetentionMs: 60_000}},
		{"normal-no-redrive", Policy{RetentionMs: 60_000}},
		{"acked", Policy{MaxConsumeCount: 3, RetentionMs: 60_000, AckedRetention: true}},
	}
	const n = 10_000
	for i, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			steps, want, ref, counts := generate(t, uint64(42+i), p.pol, n)
			checkCoverage(t, p.pol, counts)

			// Two fresh replicas, the second also restored mid-way into a third.
			b, c := NewState(), NewState()
			k, mid := 0, n/2
			for _, st := range steps {
				if st.cmd == nil {
					continue
				}
				cmd, err := Decode(st.data)
				if err != nil {
					t.Fatalf("decode %d: %v", st.index, err)
				}
				if got := b.Apply(st.index, cmd); !reflect.DeepEqual(got, want[k]) {
					t.Fatalf("replica: command %d (%T) = %+v, want %+v", k, cmd, got, want[k])
				}
				if k == mid {
					if _, err := c.ReadFrom(bytes.NewReader(snapshotBytes(t, b))); err != nil {
						t.Fatalf("restore: %v", err)
					}
					if c.Digest() != b.Digest() {
						t.Fatal("restored state differs from its source")
					}
				}
				if k > mid {
					cmd, _ := Decode(st.data) // its own copy of the messages
					if got := c.Apply(st.index, cmd); !reflect.DeepEqual(got, want[k]) {
						t.Fatalf("restored: command %d (%T) = %+v, want %+v", k, cmd, got, want[k])
					}
				}
				k++
			}
			sa, sb, sc := snapshotBytes(t, ref), snapshotBytes(t, b), snapshotBytes(t, c)
			if !bytes.Equal(sa, sb) || !bytes.Equal(sa, sc) {
				t.Fatalf("final snapshots differ: %d, %d, %d bytes", len(sa), len(sb), len(sc))
			}
			if ref.Digest() != c.Digest() {
				t.Fatal("digests differ")
			}

			// The raft adapter: one by one, and in batches, give the same.
			logs := make([]*raft.Log, len(steps))
			for i, st := range steps {
				logs[i] = &raft.Log{Index: st.index, Term: 1, Type: raft.LogCommand, Data: st.data}
				if st.cmd == nil {
					logs[i].Type = raft.LogConfiguration
				}
			}
			one, batched := NewFSM("p-1", nil), NewFSM("p-1", nil)
			var oneRes, batchRes []any
			for _, l := range logs {
				oneRes = append(oneRes, one.Apply(l))
			}
			rng := rand.New(rand.NewPCG(7, 7))
			for i := 0; i < len(logs); {
				j := min(len(logs), i+1+rng.IntN(64))
				batchRes = append(batchRes, batched.ApplyBatch(logs[i:j])...)
				i = j
			}
			if !reflect.DeepEqual(oneRes, batchRes) {
				t.Fatal("ApplyBatch results differ from Apply")
			}
			k = 0
			for i, st := range steps {
				if st.cmd == nil {
					if oneRes[i] != nil {
						t.Fatalf("configuration entry %d returned %v", st.index, oneRes[i])
					}
					continue
				}
				if !reflect.DeepEqual(oneRes[i], any(want[k])) {
					t.Fatalf("FSM command %d = %+v, want %+v", k, oneRes[i], want[k])
				}
				k++
			}
			for _, f := range []*FSM{one, batched} {
				var d [32]byte
				f.Read(func(s *State) { d = s.Digest() })
				if d != ref.Digest() {
					t.Fatal("FSM state differs from the reference")
				}
				if f.AppliedIndex() != steps[len(steps)-1].index {
					t.Fatalf("AppliedIndex %d, want %d", f.AppliedIndex(), steps[len(steps)-1].index)
				}
			}
		})
	}
}

// checkCoverage fails when the generated log missed a rule it should cover.
func checkCoverage(t *testing.T, pol Policy, c replayCounts) {
	t.Helper()
	t.Logf("coverage: %+v", c)
	checks := []struct {
		what string
		ok   bool
	}{
		{"enqueues", c.enqueued > 1000},
		{"deliveries", c.delivered > 1000},
		{"acks", c.acked > 500},
		{"status fail", c.reasons[ReasonStatusFail] > 0},
		{"already acked", c.reasons[ReasonAlreadyAcked] > 0},
		{"superseded", c.reasons[ReasonSuperseded] > 0},
		{"expired ack", c.reasons[ReasonExpired] > 0},
		{"released", c.reasons[ReasonReleased] > 0},
		// Expiries settled by a Tick, or by the housekeeping of another
		// command (which an ack then reports as expired).
		{"expiries", c.expired > 0 || c.reasons[ReasonExpired] > 0},
		{"message trims", c.trimmedMsgs > 0},
		// The generator's groups fall behind, so that under the acked
		// policy retention does most trimming; TestReplay_Acked has
		// consumers that keep up.
		{"no acked trims under the time policy", pol.AckedRetention || c.ackedTrims == 0},
		{"dead-letter trims", pol.MaxConsumeCount == 0 || c.trimmed > 0},
		{"forgets", c.forgets > 0},
		{"clock back", c.back > 0},
		{"lease extensions", c.extended > 0 && c.extendFailed > 0},
		{"half messages", c.halves > 50},
		{"checks", c.checked > 0},
		{"commits", c.committed > 10},
		{"rollbacks", c.rolledBack > 10},
		{"stale commit or rollback", c.staleEnds > 10},
		{"deduplicated", c.dedupHits > 50},
		{"deduplication ids stored", c.dedupStored > 50},
	}
	if pol.MaxConsumeCount > 0 {
		checks = append(checks,
			struct {
				what string
				ok   bool
			}{"dead letters", c.deadLettered > 0 && c.dlDelivered > 0 && c.dlAcked > 0},
			struct {
				what string
				ok   bool
			}{"redrives", c.redriven > 0})
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("generated log has no (or too few) %s", ck.what)
		}
	}
}

// genTxn builds a transactional or deduplicating command: a publish of half
// messages, a check, a commit or rollback of a handle seen (maybe stale), or
// an Enqueue with deduplication ids from a small pool, so that most repeat.
func genTxn(rng *rand.Rand, h Header, text []byte, ends []TxnEnd) Command {
	msgs := func(n int) []Message {
		ms := make([]Message, n)
		for i := range ms {
			at := rng.IntN(len(text) - 100)
			ms[i].Body = text[at : at+1+rng.IntN(100)]
		}
		return ms
	}
	switch r := rng.IntN(10); {
	case r < 3:
		return &Enqueue{Header: h, Messages: msgs(1 + rng.IntN(2)), HalfCheckMs: 1 + rng.Int64N(50)}
	case r < 6:
		return &TxnCheck{Header: h, Max: 1 + rng.IntN(16), MaxBytes: MaxLeaseBytes}
	case r < 8 && len(ends) > 0:
		e := ends[rng.IntN(len(ends))]
		e.Header, e.Commit = h, rng.IntN(2) == 0
		return &e
	}
	ms := msgs(1 + rng.IntN(4))
	ids := make([]string, len(ms))
	for i := range ids {
		if rng.IntN(8) != 0 {
			ids[i] = fmt.Sprintf("d%d", rng.IntN(60))
		}
	}
	return &Enqueue{Header: h, Messages: ms, DedupIDs: ids}
}

// countTxn records what a transactional or deduplicating command did and
// returns the handles seen so far (bounded).
func countTxn(c *replayCounts, cmd Command, res Result, ends []TxnEnd) []TxnEnd {
	switch res := res.(type) {
	case EnqueueResult:
		for i := range res.Halves {
			ends = append(ends, TxnEnd{HalfID: res.FirstHalf + uint64(i)})
		}
		c.halves += res.Halves
		if res.Dedup != nil {
			c.dedupHits += res.Dedup.Duplicates
			c.dedupStored += res.Count
		}
	case TxnCheckResult:
		for _, d := range res.Halves {
			ends = append(ends, TxnEnd{HalfID: d.HalfID, Gen: d.Gen})
		}
		c.checked += len(res.Halves)
	case TxnEndResult:
		switch {
		case !res.OK:
			c.staleEnds++
		case cmd.(*TxnEnd).Commit:
			c.committed++
		default:
			c.rolledBack++
		}
	}
	if len(ends) > 200 {
		ends = append(ends[:0:0], ends[len(ends)-100:]...)
	}
	return ends
}
