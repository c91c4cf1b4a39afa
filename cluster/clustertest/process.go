package clustertest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one `raftmq serve` process started by a test.
type Process struct {
	Bin     string
	NodeID  string
	DataDir string
	HTTP    string // host:port
	Raft    string
	Gossip  string
	Args    []string // extra flags
	// TLS, when not nil, is how the test reaches a node started with
	// --tls-cert: URL is https:// and WaitReady uses it.
	TLS *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// FreePort returns a loopback address that was free (TCP and UDP: gossip
// binds both) a moment ago. It picks below the kernel's ephemeral range
// (32768–60999 by default), from which every outgoing connection of the
// tests running beside this one takes its local port: a port picked there
// could be taken by one of them before the process binds it.
func FreePort(t testing.TB) string {
	t.Helper()
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// NewProcess prepares a node with fresh loopback ports and a data directory
// under t.TempDir(); Start runs it. The process is killed when the test ends.
func NewProcess(t testing.TB, bin, nodeID string, args ...string) *Process {
	t.Helper()
	p := &Process{Bin: bin, NodeID: nodeID, DataDir: filepath.Join(t.TempDir(), nodeID),
		HTTP: FreePort(t), Raft: FreePort(t), Gossip: FreePort(t), Args: args}
	t.Cleanup(func() {
		p.Kill(t)
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.NodeID, p.Output())
		}
	})
	return p
}

// Start runs the process and waits until GET /ready answers 200.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	p.StartNoWait(t)
	p.WaitReady(t, 20*time.Second)
}

// StartNoWait runs the process without waiting for it to be ready.
func (p *Process) StartNoWait(t testing.TB) {
	t.Helper()
	args := append([]string{"serve", "--node-id", p.NodeID, "--data-dir", p.DataDir,
		"--http-addr", p.HTTP, "--raft-addr", p.Raft, "--gossip-addr", p.Gossip}, p.Args...)
	cmd := exec.Command(p.Bin, args...)
	out := &bytes.Buffer{}
	cmd.Stdout = &lockedWriter{w: out, mu: &p.mu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.out, p.done = cmd, out, done
	p.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
}

// WaitReady polls GET /ready until 200 or fails at the deadline.
func (p *Process) WaitReady(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: p.TLS}}
	defer c.CloseIdleConnections()
	for {
		resp, err := c.Get(p.URL() + "/ready")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before ready:\n%s", p.NodeID, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v (last error %v):\n%s", p.NodeID, d, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition against a deadline
	}
}

// Pid is the process id of the running process, 0 when none runs.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL (kill -9) and waits for the process to exit.
func (p *Process) Kill(t testing.TB) {
	p.signal(t, syscall.SIGKILL, 10*time.Second)
}

// Freeze sends SIGSTOP: the process keeps its sockets open but answers
// nothing, as a host whose address swallows packets (a killed container):
// no connection is ever reset. Kill, and the test's cleanup, still end it.
func (p *Process) Freeze(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		t.Fatalf("%s: not started", p.NodeID)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("%s: SIGSTOP: %v", p.NodeID, err)
	}
}

// Stop sends SIGTERM and waits up to d for a graceful exit; it returns the exit code.
func (p *Process) Stop(t testing.TB, d time.Duration) int {
	t.Helper()
	p.signal(t, syscall.SIGTERM, d)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *Process) signal(t testing.TB, sig syscall.Signal, d time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Errorf("%s did not exit within %v of %v", p.NodeID, d, sig)
	}
}

// Exited is closed when the last process started has exited.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// ExitCode is the exit code of the last process once it has exited, else -1.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Output is what the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// URL is the node's base URL.
func (p *Process) URL() string {
	if p.TLS != nil {
		return "https://" + p.HTTP
	}
	return "http://" + p.HTTP
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// BuildBinary builds cmd/raftmq into dir and returns its path. moduleRoot is
// the repository root (where go.mod is).
func BuildBinary(moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "raftmq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/raftmq")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// MainWithBinary is a TestMain body for tests that start raftmq processes: it
// builds cmd/raftmq once into a temporary directory, stores its path in *bin,
// runs the tests and removes the directory. It returns the exit code.
func MainWithBinary(m *testing.M, bin *string) int {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		fmt.Fprintln(os.Stderr, "clustertest: cannot find the module root:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "raftmq-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin, err = BuildBinary(filepath.Dir(strings.TrimSpace(string(gomod))), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
