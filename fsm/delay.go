package fsm

// delayRef remembers a message enqueued with a DeliverAt still to come, so
// that group counters can leave it out of the available messages until it
// is due without scanning the log. The list is derived from the log (it is
// rebuilt on restore and never written to a snapshot) and only serves
// read-only queries, so it cannot make replicas differ.
type delayRef struct {
	off uint64
	at  int64 // the message's DeliverAt, unix ms
}

// noteDelay records m, enqueued at offset off, when it is not due at the
// state's clock. Entries already due or trimmed are dropped whenever the
// list has doubled since the last pruning, so that it costs amortised O(1)
// per enqueue and stays within twice the messages still delayed.
func (s *State) noteDelay(off uint64, m *Message) {
	if m.DeliverAt <= s.now {
		return
	}
	if len(s.delays) >= max(64, 2*s.delaysKept) {
		kept := s.delays[:0]
		for _, d := range s.delays {
			if d.at > s.now && d.off >= s.log.base {
				kept = append(kept, d)
			}
		}
		clear(s.delays[len(kept):])
		s.delays = kept
		s.delaysKept = len(kept)
	}
	s.delays = append(s.delays, delayRef{off: off, at: m.DeliverAt})
}

// rebuildDelays derives the list from the log after a restore.
func (s *State) rebuildDelays() {
	s.delays, s.delaysKept = nil, 0
	for i := range s.log.len() {
		if e := s.log.nth(i); e.m.deliverAt > s.now {
			s.delays = append(s.delays, delayRef{off: s.log.base + uint64(i), at: e.m.deliverAt})
		}
	}
	s.delaysKept = len(s.delays)
}

// notDueFor counts the retained messages that are not due at now (unix ms)
// and not settled by group g (nil: a group never seen). A message not due
// cannot be delivered, so each is either untouched or filtered out.
func (s *State) notDueFor(g *group, now int64) int64 {
	var n int64
	for _, d := range s.delays {
		if d.at <= now || d.off < s.log.base {
			continue
		}
		if g != nil && d.off < g.normal.next && g.normal.isDone(d.off) {
			continue
		}
		n++
	}
	return n
}

// StatsAt is Stats, except that messages whose DeliverAt is after now (unix
// ms, the caller's clock) are not counted as available yet: they are
// stored, and become available when due.
func (s *State) StatsAt(id GroupID, now int64) GroupStats {
	st := s.Stats(id)
	st.Available -= s.notDueFor(s.groups[id], now)
	return st
}
