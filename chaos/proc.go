package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"raftmq/chaos/powerfs"
)

// raftPort is the port of every node's Raft listener (T4's deaf leader
// drops packets to and from it).
const raftPort = 9001

// Proc is one `raftmq serve` process, run inside its node's namespace with
// `ip netns exec` (which execs raftmq itself, so signals reach it directly).
type Proc struct {
	ID      string // node id, "n1".."n3"
	NS      string
	IP      string
	DataDir string
	Log     string // stdout and stderr of every incarnation, appended
	Args    []string
	Disk    *powerfs.FS // T6: DataDir is this power-loss mount (nil: a plain directory)
	SmallFS string      // T9: DataDir is on this tmpfs mount ("": none)

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // SIGSTOPped
}

// HTTP is the node's client address, reachable from the root namespace.
func (p *Proc) HTTP() string { return "http://" + p.IP + ":9000" }

// Start runs a new incarnation of the node on its data directory.
func (p *Proc) Start(bin string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isDone(p.done) {
		return fmt.Errorf("chaos: %s is running", p.ID)
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	args := append([]string{"netns", "exec", p.NS, bin, "serve", "--node-id", p.ID, "--data-dir", p.DataDir,
		"--http-addr", p.IP + ":9000", "--raft-addr", fmt.Sprintf("%s:%d", p.IP, raftPort), "--gossip-addr", p.IP + ":9002"}, p.Args...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done, p.stopped = cmd, done, false
	return nil
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Running reports whether the current incarnation has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isDone(p.done)
}

// Signal sends sig to the running incarnation; SIGKILL waits (up to 10 s) for
// the exit.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if sig == syscall.SIGSTOP {
		p.stopped = true
	} else if sig == syscall.SIGCONT || sig == syscall.SIGKILL {
		p.stopped = false
	}
	p.mu.Unlock()
	if cmd == nil || isDone(done) {
		return fmt.Errorf("chaos: %s is not running", p.ID)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("chaos: %s did not exit within 10s of SIGKILL", p.ID)
		}
	}
	return nil
}

// Stop ends the process: SIGCONT, then SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isDone(done) {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// mountDisk makes DataDir a power-loss mount backed by DataDir.disk.
func (p *Proc) mountDisk() error {
	backing := p.DataDir + ".disk"
	for _, d := range []string{backing, p.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	fs, err := powerfs.Mount(backing, p.DataDir)
	if err != nil {
		return err
	}
	p.Disk = fs
	return nil
}

// unmountDisk ends the power-loss mount (the process must be stopped); the
// data stays in DataDir.disk.
func (p *Proc) unmountDisk() error {
	if err := p.unmountSmallFS(); err != nil {
		return err
	}
	if p.Disk == nil {
		return nil
	}
	return p.Disk.Unmount()
}

func newProc(dir string, i int, nw *Net, args []string) *Proc {
	id := fmt.Sprintf("n%d", i+1)
	return &Proc{ID: id, NS: nw.NodeNS(i), IP: nw.NodeIP[i], DataDir: filepath.Join(dir, id),
		Log: filepath.Join(dir, id+".log"), Args: args}
}
