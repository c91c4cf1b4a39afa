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
	rules   map[string][]string
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
	n := &Net{Prefix: prefix, Subnet: subnet, HostIP: subnet + ".1", rules: map[string][]string{}}
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

// Cut drops every packet between nodes a and b, both directions, with
// iptables rules inside both namespaces (client traffic from the harness
// still passes).
func (n *Net) Cut(a, b int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range [][2]int{{a, b}, {b, a}} {
		ns, peer := n.NodeNS(p[0]), n.NodeIP[p[1]]
		for _, rule := range [][]string{{"INPUT", "-s", peer, "-j", "DROP"}, {"OUTPUT", "-d", peer, "-j", "DROP"}} {
			if err := run(append([]string{"ip", "netns", "exec", ns, "iptables", "-w", "-A"}, rule...)...); err != nil {
				return err
			}
			n.rules[ns] = append(n.rules[ns], strings.Join(rule, " "))
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
	var errs []error
	for ns, rules := range n.rules {
		for _, r := range rules {
			if err := run(append([]string{"ip", "netns", "exec", ns, "iptables", "-w", "-D"}, strings.Fields(r)...)...); err != nil {
				errs = append(errs, err)
			}
		}
		delete(n.rules, ns)
	}
	return errors.Join(errs...)
}

// Close removes the rules, veths, bridge and namespaces, in reverse order of
// creation. The node processes must have exited (a namespace outlives its
// last process).
func (n *Net) Close() error {
	errs := []error{n.Heal()}
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
