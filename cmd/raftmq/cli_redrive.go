package main

import (
	"fmt"
	"net/url"
)

// groupRedrive moves a group's dead letters back to its normal lane: all of
// them, or the oldest N with --max N.
func (c *cmdClient) groupRedrive(args []string) error {
	fs := c.flags("group redrive", "QUEUE NAME [--max N]")
	max := fs.Int("max", 0, "redrive at most N dead letters, oldest first (0: all)")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	if *max < 0 {
		return &usageError{"--max must be 0 (all) or more"}
	}
	q, g, err := c.findQueueGroup(pos[0], pos[1])
	if err != nil {
		return err
	}
	var body any
	if *max > 0 {
		body = map[string]int{"max_msgs": *max}
	}
	var out struct {
		Redriven int `json:"redriven"`
	}
	path := "/queues/" + url.PathEscape(q.ID) + "/groups/" + url.PathEscape(g.ID) + "/deadletters/redrive"
	if err := c.do("POST", c.dms(path), body, 200, &out); err != nil {
		return err
	}
	return c.done(map[string]any{"group": g.Name, "redriven": out.Redriven},
		fmt.Sprintf("redrove %d dead letters of group %s back to queue %s", out.Redriven, g.Name, q.Name))
}
