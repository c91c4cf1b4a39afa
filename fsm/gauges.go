package fsm

// GroupGauges are a group's point-in-time counts in one partition, for
// monitoring (Prometheus gauges). They are read from the state, never
// replicated.
type GroupGauges struct {
	Ready       int64 // retained, not done, not in flight (delayed messages included)
	InFlight    int64 // leased and not yet settled, normal lane
	DeadLetters int64 // dead letters not yet acknowledged
	// DeadLettered counts the messages ever dead-lettered by the group.
	DeadLettered int64
	// OldestReadyAt is when the oldest message ready for the group was
	// produced (unix ms); 0 when none is ready.
	OldestReadyAt int64
}

// Gauges returns group id's gauges; a group the partition has not seen yet
// has every retained message ready.
func (s *State) Gauges(id GroupID) GroupGauges {
	st := s.Stats(id)
	g, ok := s.groups[id]
	if !ok {
		gg := GroupGauges{Ready: st.Available}
		if s.log.len() > 0 {
			gg.OldestReadyAt = s.log.at(s.log.base).producedAt
		}
		return gg
	}
	inflight := int64(len(g.normal.expiry))
	gg := GroupGauges{
		Ready:        max(st.Available-inflight, 0),
		InFlight:     inflight,
		DeadLetters:  st.AvailableDeadLetters,
		DeadLettered: st.ProducedDeadLetters,
	}
	if off, ok := s.oldestReady(g.normal); ok {
		gg.OldestReadyAt = s.log.at(off).producedAt
	}
	return gg
}

// oldestReady is the lowest offset that ln would deliver: the first of its
// released messages, or its cursor when that is below the log's end.
func (s *State) oldestReady(ln *lane) (uint64, bool) {
	off, ok := uint64(0), false
	if len(ln.ready) > 0 {
		off, ok = ln.ready[0].off, true
	}
	if ln.next < s.log.end() && (!ok || ln.next < off) {
		off, ok = ln.next, true
	}
	if ok && off < s.log.base {
		return 0, false
	}
	return off, ok
}
