package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// queueInfo is a queue as the DMS door describes it.
type queueInfo struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Mode            string `json:"queue_mode"`
	Created         int64  `json:"created"`
	Produced        int64  `json:"produced_messages"`
	GroupCount      int    `json:"group_count"`
	RetentionPolicy string `json:"retention_policy,omitempty"`
	RedrivePolicy   string `json:"redrive_policy,omitempty"`
	MaxConsumeCount int    `json:"max_consume_count,omitempty"`
}

// groupInfo is a consumer group as the DMS door describes it.
type groupInfo struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	Produced             int64  `json:"produced_messages"`
	Consumed             int64  `json:"consumed_messages"`
	Available            int64  `json:"available_messages"`
	ProducedDeadLetters  int64  `json:"produced_deadletters"`
	AvailableDeadLetters int64  `json:"available_deadletters"`
}

// findQueue looks a queue of the project up by name: the command line names
// queues, the API wants ids.
func (c *cmdClient) findQueue(name string) (queueInfo, error) {
	var list struct {
		Queues []queueInfo `json:"queues"`
	}
	if err := c.do("GET", c.dms("/queues?include_deadletter=true"), nil, 200, &list); err != nil {
		return queueInfo{}, err
	}
	for _, q := range list.Queues {
		if q.Name == name {
			return q, nil
		}
	}
	return queueInfo{}, &apiError{Status: 404, Code: "10240401", Msg: fmt.Sprintf("no queue %q in project %q", name, c.Project)}
}

// findGroup looks a group of queue q up by name.
// findQueueGroup finds the group named groupName of the queue named
// queueName.
func (c *cmdClient) findQueueGroup(queueName, groupName string) (queueInfo, groupInfo, error) {
	q, err := c.findQueue(queueName)
	if err != nil {
		return queueInfo{}, groupInfo{}, err
	}
	g, err := c.findGroup(q, groupName)
	return q, g, err
}

func (c *cmdClient) findGroup(q queueInfo, name string) (groupInfo, error) {
	gs, err := c.groups(q)
	if err != nil {
		return groupInfo{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return groupInfo{}, &apiError{Status: 404, Code: "10240405", Msg: fmt.Sprintf("no group %q on queue %q", name, q.Name)}
}

func (c *cmdClient) groups(q queueInfo) ([]groupInfo, error) {
	var list struct {
		Groups []groupInfo `json:"groups"`
	}
	err := c.do("GET", c.dms("/queues/"+url.PathEscape(q.ID)+"/groups?include_deadletter=true"), nil, 200, &list)
	return list.Groups, err
}

func (c *cmdClient) queueCmd(args []string) error {
	return c.subcommands("queue", "usage: raftmq queue create NAME [--mode NORMAL|FIFO] [--redrive N] [--retention time|acked]\n       raftmq queue list\n       raftmq queue show NAME\n       raftmq queue delete NAME",
		args, []subcommand{{"create", c.queueCreate}, {"list", c.queueList}, {"show", c.queueShow}, {"delete", c.queueDelete}})
}

func (c *cmdClient) queueCreate(args []string) error {
	fs := c.flags("queue create", "NAME [--mode NORMAL|FIFO] [--redrive N] [--retention time|acked]")
	mode := fs.String("mode", "NORMAL", "queue mode: NORMAL, FIFO, KAFKA_HA or KAFKA_HT")
	redrive := fs.Int("redrive", 0, "dead-letter a message after N failed consumptions (1-100); 0 turns redrive off")
	desc := fs.String("description", "", "description")
	retention := fs.String("retention", "", "retention policy: time (kept until retention ends, the default) or acked (also gone once every group acknowledged it)")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	body := map[string]any{"name": pos[0], "queue_mode": *mode}
	if *desc != "" {
		body["description"] = *desc
	}
	if *redrive > 0 {
		body["redrive_policy"] = "enable"
		body["max_consume_count"] = *redrive
	}
	if *retention != "" {
		body["retention_policy"] = *retention
	}
	var out struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := c.do("POST", c.dms("/queues"), body, 201, &out); err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(out)
	}
	_, err = fmt.Fprintf(c.stdout, "created queue %s (%s)\n", out.Name, out.ID)
	return err
}

func (c *cmdClient) queueList(args []string) error {
	fs := c.flags("queue list", "")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	var list struct {
		Total  int         `json:"total"`
		Queues []queueInfo `json:"queues"`
	}
	if err := c.do("GET", c.dms("/queues?include_deadletter=true"), nil, 200, &list); err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(list.Queues)
	}
	rows := make([][]string, 0, len(list.Queues))
	for _, q := range list.Queues {
		rows = append(rows, []string{q.Name, q.Mode, strconv.FormatInt(q.Produced, 10), strconv.Itoa(q.GroupCount), redriveText(q), q.ID})
	}
	return c.printTable([]string{"NAME", "MODE", "MESSAGES", "GROUPS", "REDRIVE", "ID"}, rows)
}

func redriveText(q queueInfo) string {
	if q.RedrivePolicy == "enable" {
		return "after " + strconv.Itoa(q.MaxConsumeCount)
	}
	return "off"
}

func (c *cmdClient) queueShow(args []string) error {
	fs := c.flags("queue show", "NAME")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	q, err := c.findQueue(pos[0])
	if err != nil {
		return err
	}
	gs, err := c.groups(q)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(struct {
			queueInfo
			Groups []groupInfo `json:"groups"`
		}{q, gs})
	}
	fmt.Fprintf(c.stdout, "name:        %s\nid:          %s\nmode:        %s\ncreated:     %s\nmessages:    %d\nredrive:     %s\nretention:   %s\n\n",
		q.Name, q.ID, q.Mode, time.UnixMilli(q.Created).UTC().Format(time.RFC3339), q.Produced, redriveText(q), q.RetentionPolicy)
	return c.printGroups(gs)
}

func (c *cmdClient) printGroups(gs []groupInfo) error {
	rows := make([][]string, 0, len(gs))
	for _, g := range gs {
		rows = append(rows, []string{g.Name, strconv.FormatInt(g.Available, 10), strconv.FormatInt(g.Consumed, 10),
			strconv.FormatInt(g.AvailableDeadLetters, 10), strconv.FormatInt(g.ProducedDeadLetters, 10), g.ID})
	}
	return c.printTable([]string{"GROUP", "AVAILABLE", "CONSUMED", "DEAD_LETTERS", "DEAD_LETTERED_EVER", "ID"}, rows)
}

func (c *cmdClient) queueDelete(args []string) error {
	fs := c.flags("queue delete", "NAME")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	q, err := c.findQueue(pos[0])
	if err != nil {
		return err
	}
	if err := c.do("DELETE", c.dms("/queues/"+url.PathEscape(q.ID)), nil, 204, nil); err != nil {
		return err
	}
	return c.done(map[string]string{"deleted": q.Name, "id": q.ID}, "deleted queue "+q.Name)
}

// done reports a command that has nothing but its success to show.
func (c *cmdClient) done(v any, text string) error {
	if c.Output == "json" {
		return c.printJSON(v)
	}
	_, err := fmt.Fprintln(c.stdout, text)
	return err
}

func (c *cmdClient) groupCmd(args []string) error {
	return c.subcommands("group", "usage: raftmq group create QUEUE NAME\n       raftmq group list QUEUE\n       raftmq group delete QUEUE NAME\n       raftmq group redrive QUEUE NAME [--max N]",
		args, []subcommand{{"create", c.groupCreate}, {"list", c.groupList}, {"delete", c.groupDelete}, {"redrive", c.groupRedrive}})
}

func (c *cmdClient) groupCreate(args []string) error {
	fs := c.flags("group create", "QUEUE NAME")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	q, err := c.findQueue(pos[0])
	if err != nil {
		return err
	}
	var out struct {
		Groups []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"groups"`
	}
	body := map[string]any{"groups": []map[string]string{{"name": pos[1]}}}
	if err := c.do("POST", c.dms("/queues/"+url.PathEscape(q.ID)+"/groups"), body, 201, &out); err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(out.Groups)
	}
	for _, g := range out.Groups {
		fmt.Fprintf(c.stdout, "created group %s (%s) on queue %s\n", g.Name, g.ID, q.Name)
	}
	return nil
}

func (c *cmdClient) groupList(args []string) error {
	fs := c.flags("group list", "QUEUE")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	q, err := c.findQueue(pos[0])
	if err != nil {
		return err
	}
	gs, err := c.groups(q)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(gs)
	}
	return c.printGroups(gs)
}

func (c *cmdClient) groupDelete(args []string) error {
	fs := c.flags("group delete", "QUEUE NAME")
	pos, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	q, g, err := c.findQueueGroup(pos[0], pos[1])
	if err != nil {
		return err
	}
	if err := c.do("DELETE", c.dms("/queues/"+url.PathEscape(q.ID)+"/groups/"+url.PathEscape(g.ID)), nil, 204, nil); err != nil {
		return err
	}
	return c.done(map[string]string{"deleted": g.Name, "id": g.ID}, "deleted group "+g.Name+" of queue "+q.Name)
}
