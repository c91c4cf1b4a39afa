package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
)

// clusterView is GET /v1/cluster as the client reads it; fields a node does
// not send yet stay empty.
type clusterView struct {
	NodeID     string `json:"node_id"`
	MetaLeader string `json:"meta_leader"`
	Nodes      []struct {
		ID       string `json:"id"`
		HTTPAddr string `json:"http_addr"`
		Alive    bool   `json:"alive"`
		State    string `json:"state"`
	} `json:"nodes"`
	Partitions []struct {
		ID        string   `json:"id"`
		QueueID   string   `json:"queue_id"`
		QueueName string   `json:"queue_name"`
		Project   string   `json:"project"`
		Replicas  []string `json:"replicas"`
		Leader    string   `json:"leader"`
	} `json:"partitions"`
}

func (c *cmdClient) clusterCmd(args []string) error {
	if ok, err := c.subcommandHelp(args, "usage: raftmq cluster status"); ok {
		return err
	}
	if len(args) == 0 || args[0] != "status" {
		return usagef("cluster: want status")
	}
	fs := c.flags("cluster status", "")
	if _, err := c.parse(fs, args[1:], 0); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do("GET", c.node("/v1/cluster"), nil, 200, &raw); err != nil {
		return err
	}
	if c.Output == "json" {
		return c.printJSON(raw)
	}
	var v clusterView
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	fmt.Fprintf(c.stdout, "answered by %s; metadata leader %s\n\n", v.NodeID, orDash(v.MetaLeader))
	var rows [][]string
	for _, n := range v.Nodes {
		state := n.State
		if state == "" {
			state = map[bool]string{true: "alive", false: "dead"}[n.Alive]
		}
		rows = append(rows, []string{n.ID, state, n.HTTPAddr})
	}
	if err := c.printTable([]string{"NODE", "STATE", "HTTP"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	rows = rows[:0]
	for _, p := range v.Partitions {
		rows = append(rows, []string{p.ID, orDash(p.QueueName), orDash(p.Leader), strings.Join(p.Replicas, ",")})
	}
	return c.printTable([]string{"PARTITION", "QUEUE", "LEADER", "REPLICAS"}, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cmdClient) nodeCmd(args []string) error {
	if ok, err := c.subcommandHelp(args, "usage: raftmq node decommission ID\n       raftmq node remove ID"); ok {
		return err
	}
	if len(args) == 0 || (args[0] != "decommission" && args[0] != "remove") {
		return usagef("node: want decommission ID or remove ID")
	}
	verb := args[0]
	fs := c.flags("node "+verb, "ID")
	pos, err := c.parse(fs, args[1:], 1)
	if err != nil {
		return err
	}
	method, path := "POST", "/v1/cluster/nodes/"+url.PathEscape(pos[0])+"/decommission"
	if verb == "remove" {
		method, path = "DELETE", "/v1/cluster/nodes/"+url.PathEscape(pos[0])
	}
	var raw json.RawMessage
	if err := c.do(method, c.node(path), nil, 202, &raw); err != nil {
		return err
	}
	if c.Output == "json" && len(raw) > 0 {
		return c.printJSON(raw)
	}
	return c.done(map[string]string{"node": pos[0], "accepted": verb}, fmt.Sprintf("node %s: %s accepted; raftmq cluster status shows progress", pos[0], verb))
}

// versionText describes this binary from its build information.
func versionText() string {
	v, rev, modified := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := "raftmq " + v
	if rev != "" {
		out += " revision " + rev[:min(12, len(rev))]
		if modified {
			out += " (modified)"
		}
	}
	return out + " " + runtime.Version()
}
