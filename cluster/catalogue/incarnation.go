package catalogue

import "maps"

// MemberInc is the incarnation recorded for node id ("" when none is): the
// one set_node with State "" and Inc admitted last.
func (c *Catalogue) MemberInc(id string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.Incs[id]
}

// MemberIncs returns every recorded incarnation, by node id.
func (c *Catalogue) MemberIncs() map[string]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return maps.Clone(c.st.Incs)
}
