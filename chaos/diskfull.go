package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// T9 (disk full): one node's data directory lives on a small tmpfs. Every
// DiskEvery the nemesis fills that file system with a ballast file, first
// to below the nodes' free-space watermark (produce refused, consume and
// ack served), then to the last byte, and then deletes the ballast.
// T9-enospc is the same with the watermark off on that node: produce goes
// on, so its log meets ENOSPC (no room for a new segment) with writes in
// flight, and must answer rather than fail or damage anything; the node is
// then killed while the file system is still full and restarted on it.

// diskFlags are every node's settings in T9: a 1 GiB file system, produce
// refused below 256 MiB free; the smallest log segments, so that the log
// starts new ones (and finds no room for them) while the file system is
// full.
var diskFlags = []string{"--disk-min-free", "256MiB", "--disk-min-free-percent", "0", "--wal-segment-size", "64KiB"}

// diskVictimFlags override diskFlags on the small file system's node.
func diskVictimFlags(scenario string) []string {
	if scenario == "T9-enospc" {
		return []string{"--disk-min-free", "0", "--disk-min-free-percent", "0"}
	}
	return nil
}

// mountSmallFS makes DataDir a directory on a tmpfs of size bytes, mounted
// at DataDir+".fs"; unmountDisk unmounts it.
func (p *Proc) mountSmallFS(size int64) error {
	mnt := p.DataDir + ".fs"
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		return fmt.Errorf("chaos: mount a %d-byte tmpfs at %s: %w", size, mnt, err)
	}
	p.SmallFS = mnt
	p.DataDir = filepath.Join(mnt, "data")
	return os.MkdirAll(p.DataDir, 0o755)
}

// unmountSmallFS unmounts the tmpfs (the process must be stopped). A copy
// of the mount in a namespace of `ip netns exec` can keep it busy a moment:
// it is then detached.
func (p *Proc) unmountSmallFS() error {
	if p.SmallFS == "" {
		return nil
	}
	// Keep the data for a failing run to look at: copied out of the tmpfs.
	kept := p.SmallFS + "-data"
	if err := exec.Command("cp", "-a", p.DataDir, kept).Run(); err != nil {
		return fmt.Errorf("chaos: copying %s out of its tmpfs: %w", p.DataDir, err)
	}
	if err := unix.Unmount(p.SmallFS, 0); err != nil {
		if err := unix.Unmount(p.SmallFS, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("chaos: unmount %s: %w", p.SmallFS, err)
		}
	}
	p.SmallFS = ""
	return nil
}

// ballast is the file the nemesis fills the victim's file system with.
func (p *Proc) ballast() string { return filepath.Join(p.SmallFS, "ballast") }

// fillTo appends to the ballast until the file system has at most leave
// bytes free, or it is full (ENOSPC is the expected end when leave is 0).
// It returns the free bytes left.
func fillTo(path string, leave uint64) (uint64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for k := 0; k < 1<<16; k++ { // at most 64 GiB
		free, err := freeBytes(path)
		if err != nil {
			return 0, err
		}
		if free <= leave {
			return free, nil
		}
		n := min(uint64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return freeBytes(path)
			}
			return 0, err
		}
	}
	return freeBytes(path)
}

func freeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// diskFull is one T9 cycle on the node with the small file system: low
// for DiskLowFor, full for DiskFullFor, then freed. A node that exited
// meanwhile is recorded ("crashed") and restarted; the run then fails.
func (n *nemesis) diskFull(ctx context.Context, stop chan struct{}) {
	v := n.diskVictim
	p := n.procs[v]
	n.mu.Lock()
	if n.faulty[v] != "" || !p.Running() {
		n.mu.Unlock()
		return
	}
	n.faulty[v] = "disk"
	leaders := n.leaders(ctx)
	free, err := fillTo(p.ballast(), n.sched.DiskLowLeave)
	n.recordOp(Op{Fault: "disk-low", Detail: fmt.Sprintf("%d bytes free", free)}, []int{v}, ledBy(leaders, v))
	if err != nil {
		n.errs = append(n.errs, fmt.Errorf("chaos: filling %s: %w", p.SmallFS, err))
	}
	n.mu.Unlock()
	sleepOr(stop, n.sched.DiskLowFor)
	n.mu.Lock()
	free, err = fillTo(p.ballast(), 0)
	n.recordOp(Op{Fault: "disk-full", Detail: fmt.Sprintf("%d bytes free", free)}, []int{v}, nil)
	if err != nil {
		n.errs = append(n.errs, fmt.Errorf("chaos: filling %s: %w", p.SmallFS, err))
	}
	n.mu.Unlock()
	sleepOr(stop, n.sched.DiskFullFor)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.freeDisk(v)
}

// freeDisk deletes the ballast and checks that the node lived through it.
// With DiskKill (T9-enospc) the node is first killed (kill -9) with its
// file system still full and started again once it is freed: its log must
// open as the full file system left it.
func (n *nemesis) freeDisk(v int) {
	p := n.procs[v]
	crashed := !p.Running()
	if !crashed && n.sched.DiskKill {
		n.record("kill", []int{v}, nil)
		if err := p.Signal(syscall.SIGKILL); err != nil {
			n.errs = append(n.errs, err)
		}
	}
	if err := os.Remove(p.ballast()); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.errs = append(n.errs, err)
	}
	n.record("heal-disk", []int{v}, nil)
	if crashed {
		n.errs = append(n.errs, fmt.Errorf("chaos: %s exited while its file system was full (see %s)", p.ID, p.Log))
		n.recordOp(Op{Fault: "crashed", Detail: "exited while its file system was full"}, []int{v}, nil)
	}
	if crashed || n.sched.DiskKill {
		n.restart(v)
		return
	}
	delete(n.faulty, v)
}
