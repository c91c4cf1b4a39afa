package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ErrNetwork reports that the test network could not be built (no root, no
// ip or iptables, no namespace support). The suite fails on it; it never
// skips.
var ErrNetwork = errors.New("chaos: cannot build the test network")

// Net is the test network: a hub namespace holding a bridge, one namespace per
// node with a veth on the bridge, and a veth from the root namespace so that
// the harness reaches the nodes. Names start with Prefix; addresses are in a
// private /24 that no route of the root namespace uses.
type Net struct {
	Prefix string
	Subnet string   // "10.X.Y"
	HostIP string   // the root namespace's address on the bridge
	NodeIP []string // one per node namespace

	mu      sync.Mutex
	created []func() error // undo steps, run in reverse by Close
	rules   []rule         // iptables rules in place, removed by Heal, Hear or Restore
	qdiscs  []string       // namespaces whose eth0 has our root qdisc (Netem)
	// exec runs the iptables and tc commands of faults; nil means run.
	// Tests replace it.
	exec func(args ...string) error
}

// rule is one iptables rule added inside a node namespace.
type rule struct {
	ns   string
	kind string // ruleCut (Cut) or ruleDeaf (Deafen)
	spec []string
}

const (
	ruleCut  = "cut"
	ruleDeaf = "deaf"
)

// Netem is the slow-link setting of scenario T4: every packet from one node
// to another is delayed Delay ± Jitter, dropped with probability LossPct %,
// and sent at once (reordered) with probability ReorderPct %.
type Netem struct {
	Delay, Jitter       time.Duration
	LossPct, ReorderPct float64
}

// args are the tc netem parameters.
func (m Netem) args() []string {
	return []string{"delay", fmt.Sprintf("%dms", m.Delay.Milliseconds()), fmt.Sprintf("%dms", m.Jitter.Milliseconds()),
		"loss", fmt.Sprintf("%g%%", m.LossPct), "reorder", fmt.Sprintf("%g%%", m.ReorderPct)}
}

// NodeNS is the namespace name of node i (0-based).
func (n *Net) NodeNS(i int) string { return fmt.Sprintf("%s%d", n.Prefix, i+1) }

func (n *Net) hubNS() string { return n.Prefix + "h" }

func run(args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// NewNet builds the network for nodes nodes. prefix must be short (at most 9
// characters) and unique to this run; rng picks the subnet.
func NewNet(prefix string, nodes int, rng *rand.Rand) (*Net, error) {
	if len(prefix) > 9 || nodes < 1 || nodes > 9 {
		return nil, fmt.Errorf("%w: bad prefix %q or node count %d", ErrNetwork, prefix, nodes)
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s not installed (apt-get install iproute2 iptables): %v", ErrNetwork, tool, err)
		}
	}
	subnet, err := freeSubnet(rng)
	if err != nil {
		return nil, err
	}
	n := &Net{Prefix: prefix, Subnet: subnet, HostIP: subnet + ".1"}
	if err := n.build(nodes); err != nil {
		n.Close()
		return nil, fmt.Errorf("%w: %v", ErrNetwork, err)
	}
	return n, nil
}

// freeSubnet picks 10.200-249.Y.0/24 that no local address or route overlaps.
func freeSubnet(rng *rand.Rand) (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNetwork, err)
	}
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for try := 0; try < 50; try++ {
		s := fmt.Sprintf("10.%d.%d", 200+rng.IntN(50), 1+rng.IntN(250))
		_, cidr, _ := net.ParseCIDR(s + ".0/24")
		used := strings.Contains(string(routes), s+".")
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (cidr.Contains(ipn.IP) || ipn.Contains(cidr.IP)) {
				used = true
			}
		}
		if !used {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: no free 10.x.y.0/24 found", ErrNetwork)
}

func (n *Net) step(do []string, undo func() error) error {
	if err := run(do...); err != nil {
		return err
	}
	if undo != nil {
		n.created = append(n.created, undo)
	}
	return nil
}

func (n *Net) build(nodes int) error {
	hub, br := n.hubNS(), n.Prefix+"br"
	delNS := func(ns string) func() error { return func() error { return run("ip", "netns", "del", ns) } }
	if err := n.step([]string{"ip", "netns", "add", hub}, delNS(hub)); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "-n", hub, "link", "add", br, "type", "bridge"},
		{"ip", "-n", hub, "link", "set", br, "up"},
	}
	for _, s := range steps {
		if err := n.step(s, nil); err != nil {
			return err
		}
	}
	hostIf := n.Prefix + "r"
	if err := n.step([]string{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", n.Prefix + "rb", "netns", hub},
		func() error { return run("ip", "link", "del", hostIf) }); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"ip", "addr", "add", n.HostIP + "/24", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
		{"ip", "-n", hub, "link", "set", n.Prefix + "rb", "master", br, "up"},
	} {
		if err := n.step(s, nil); err != nil {
			return err
		}
	}
	for i := range nodes {
		ns := n.NodeNS(i)
		ip := fmt.Sprintf("%s.%d", n.Subnet, 11+i)
		if err := n.step([]string{"ip", "netns", "add", ns}, delNS(ns)); err != nil {
			return err
		}
		peer := fmt.Sprintf("%sv%d", n.Prefix, i+1)
		for _, s := range [][]string{
			{"ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", hub},
			{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", hub, "link", "set", peer, "master", br, "up"},
		} {
			if err := n.step(s, nil); err != nil {
				return err
			}
		}
		n.NodeIP = append(n.NodeIP, ip)
	}
	return nil
}

func (n *Net) cmd(args ...string) error {
	if n.exec != nil {
		return n.exec(args...)
	}
	return run(args...)
}

// addRule appends an iptables rule in namespace ns and remembers it. The
// caller holds mu.
func (n *Net) addRule(ns, kind string, spec ...string) error {
	if err := n.cmd(append([]string{"ip", "netns", "exec", ns, "iptables", "-w", "-A"}, spec...)...); err != nil {
		return err
	}
	n.rules = append(n.rules, rule{ns: ns, kind: kind, spec: spec})
	return nil
}

// removeRules deletes the remembered rules that match, all of them even
// when one fails. The caller holds mu.
func (n *Net) removeRules(match func(r rule) bool) error {
	var errs []error
	kept := n.rules[:0]
	for _, r := range n.rules {
		if !match(r) {
			kept = append(kept, r)
			continue
		}
		if err := n.cmd(append([]string{"ip", "netns", "exec", r.ns, "iptables", "-w", "-D"}, r.spec...)...); err != nil {
			errs = append(errs, err)
		}
	}
	n.rules = kept
	return errors.Join(errs...)
}

// Cut drops every packet between nodes a and b, both directions, with
// iptables rules inside both namespaces (client traffic from the harness
// still passes).
func (n *Net) Cut(a, b int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range [][2]int{{a, b}, {b, a}} {
		ns, peer := n.NodeNS(p[0]), n.NodeIP[p[1]]
		if err := n.addRule(ns, ruleCut, "INPUT", "-s", peer, "-j", "DROP"); err != nil {
			return err
		}
		if err := n.addRule(ns, ruleCut, "OUTPUT", "-d", peer, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Isolate cuts node i from every other node.
func (n *Net) Isolate(i int) error {
	for j := range n.NodeIP {
		if j != i {
			if err := n.Cut(i, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// Heal removes every rule Cut added.
func (n *Net) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.removeRules(func(r rule) bool { return r.kind == ruleCut })
}

// Deafen makes node i deaf to Raft (T4's "deaf leader"): inside its
// namespace, every incoming TCP packet of at least minLen bytes (IP length)
// to or from port is dropped, so the node still sends, and TCP handshakes,
// ACKs and other small packets still arrive, but no Raft request or
// response with a payload does.
func (n *Net) Deafen(i, port, minLen int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	length := fmt.Sprintf("%d:65535", minLen)
	for _, dir := range []string{"--dport", "--sport"} {
		if err := n.addRule(n.NodeNS(i), ruleDeaf, "INPUT", "-p", "tcp", dir, fmt.Sprint(port), "-m", "length", "--length", length, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Hear removes the rules Deafen added to node i.
func (n *Net) Hear(i int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns := n.NodeNS(i)
	return n.removeRules(func(r rule) bool { return r.kind == ruleDeaf && r.ns == ns })
}

// Netem slows every link between two nodes (T4): in each node namespace, an
// htb root qdisc on eth0 sends packets to the other nodes through a netem
// qdisc with m's setting and everything else (the harness's client traffic)
// through a plain class. It fails, with tc's own message, when the kernel
// has no netem (sch_netem); it never falls back to something else.
func (n *Net) Netem(m Netem) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.NodeIP {
		ns := n.NodeNS(i)
		tc := func(args ...string) error {
			return n.cmd(append([]string{"ip", "netns", "exec", ns, "tc"}, args...)...)
		}
		if err := tc("qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"); err != nil {
			return err
		}
		n.qdiscs = append(n.qdiscs, ns)
		steps := [][]string{
			{"class", "add", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit"},
			{"class", "add", "dev", "eth0", "parent", "1:", "classid", "1:2", "htb", "rate", "10gbit"},
			append([]string{"qdisc", "add", "dev", "eth0", "parent", "1:2", "handle", "20:", "netem"}, m.args()...),
		}
		for j, ip := range n.NodeIP {
			if j != i {
				steps = append(steps, []string{"filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1",
					"u32", "match", "ip", "dst", ip + "/32", "flowid", "1:2"})
			}
		}
		for _, s := range steps {
			if err := tc(s...); err != nil {
				return err
			}
		}
	}
	return nil
}

// ClearNetem removes the qdiscs Netem added.
func (n *Net) ClearNetem() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clearNetem()
}

func (n *Net) clearNetem() error {
	var errs []error
	for _, ns := range n.qdiscs {
		if err := n.cmd("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"); err != nil {
			errs = append(errs, err)
		}
	}
	n.qdiscs = nil
	return errors.Join(errs...)
}

// Restore removes every rule and qdisc this Net added: the network is as
// NewNet built it.
func (n *Net) Restore() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return errors.Join(n.removeRules(func(rule) bool { return true }), n.clearNetem())
}

// Close removes the rules, qdiscs, veths, bridge and namespaces, in reverse
// order of creation. The node processes must have exited (a namespace
// outlives its last process).
func (n *Net) Close() error {
	errs := []error{n.Restore()}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.created) - 1; i >= 0; i-- {
		if err := n.created[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.created = nil
	return errors.Join(errs...)
}
