package fsm

// NeedsTick reports whether a Tick proposed at now (unix ms) under policy p
// would change anything: a lease has expired, messages or dead letters are
// past retention, or (under AckedRetention) every group has done the oldest
// message or a group has done its oldest dead letter. The leader asks before
// proposing housekeeping, so that an idle partition writes nothing to its
// log.
func (s *State) NeedsTick(now int64, p Policy) bool {
	now = max(now, s.now)
	dlCutoff, dlOK := retentionCutoff(now, DeadLetterRetentionMs)
	for _, id := range s.order {
		g := s.groups[id]
		for _, ln := range [...]*lane{g.normal, g.dlLane} {
			if len(ln.expiry) > 0 && ln.expiry[0].expiresAt <= now {
				return true
			}
		}
		if dlOK && g.dl.len() > 0 && g.dl.nth(0).deadAt < dlCutoff {
			return true
		}
		if p.AckedRetention && g.dlLane.floor > g.dl.base {
			return true
		}
	}
	if _, ok := s.ackedFloor(&p); ok {
		return true
	}
	cutoff, ok := retentionCutoff(now, p.RetentionMs)
	return ok && s.log.len() > 0 && s.log.nth(0).producedAt < cutoff
}
