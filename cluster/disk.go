package cluster

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrDiskFull is returned by Produce when a node holding a replica of the
// partition (this one, or a peer that gossips it) has less free space on
// its data directory's file system than its watermark. Consume, ack and
// deletes go on: they are what frees space.
var ErrDiskFull = errors.New("cluster: too little free disk space on a replica's node")

// DiskSpace reports the free and total bytes of the file system that
// holds the data directory. The default reads statfs(2); tests inject one.
type DiskSpace interface {
	DiskSpace() (free, total uint64, err error)
}

// DiskLimits is the free-space watermark of the data directory's file
// system. Below it (free < max(MinFreeBytes, MinFreePercent% of the file
// system)) the node refuses produce; it accepts again once free space is an
// eighth above the watermark, so that it does not flap at the edge.
type DiskLimits struct {
	MinFreeBytes   uint64
	MinFreePercent float64 // 0 to 50
	// Interval is how often free space is read (default 1 s): the check on
	// the request path reads a cached flag, never the file system.
	Interval time.Duration
	// Space, when set, replaces statfs of the data directory (tests).
	Space DiskSpace
}

// Defaults of DiskLimits: room for the write-ahead log's next segment and
// its spare (64 MiB each), snapshots and the consumers' acks in between.
const (
	DefaultDiskMinFreeBytes   = 512 << 20
	DefaultDiskMinFreePercent = 2
	defaultDiskInterval       = time.Second
)

func (d DiskLimits) validate() error {
	if d.MinFreePercent < 0 || d.MinFreePercent > 50 {
		return errors.New("cluster: disk min free percent must be 0..50")
	}
	if d.Interval < 0 {
		return errors.New("cluster: disk check interval must not be negative")
	}
	return nil
}

// statfsSpace is DiskSpace for a directory.
type statfsSpace string

func (d statfsSpace) DiskSpace() (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(string(d), &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// diskGuard caches whether the file system is below the watermark.
type diskGuard struct {
	lim  DiskLimits
	low  atomic.Bool
	free atomic.Uint64
}

func newDiskGuard(lim DiskLimits, dataDir string) *diskGuard {
	if lim.Space == nil {
		lim.Space = statfsSpace(dataDir)
	}
	if lim.Interval == 0 {
		lim.Interval = defaultDiskInterval
	}
	return &diskGuard{lim: lim}
}

// watermark is the free space below which the file system counts as low.
func (g *diskGuard) watermark(total uint64) uint64 {
	return max(g.lim.MinFreeBytes, uint64(float64(total)*g.lim.MinFreePercent/100))
}

// check reads the free space once and reports whether low changed. An
// error leaves the state as it was.
func (g *diskGuard) check() (changed bool, err error) {
	free, total, err := g.lim.Space.DiskSpace()
	if err != nil {
		return false, err
	}
	g.free.Store(free)
	mark := g.watermark(total)
	was := g.low.Load()
	now := free < mark || (was && free < mark+mark/8)
	g.low.Store(now)
	return now != was, nil
}

// diskLoop reads the free space every interval and gossips a change, so
// that the leaders of the partitions this node replicates refuse produce
// too (a follower's log fills as fast as its leader's).
func (n *Node) diskLoop() {
	n.every(n.disk.lim.Interval, nil, func() bool {
		changed, err := n.disk.check()
		if err != nil {
			n.log.Warn("reading free disk space", "dir", n.cfg.DataDir, "err", err)
			return true
		}
		if changed {
			low := n.disk.low.Load()
			if low {
				n.log.Warn("free disk space below the watermark: refusing produce", "free_bytes", n.disk.free.Load())
			} else {
				n.log.Info("free disk space above the watermark again: accepting produce", "free_bytes", n.disk.free.Load())
			}
			n.members.SetDiskLow(low)
		}
		return true
	})
}

// admitProduce refuses a produce to partition i of q while a node holding
// one of its replicas is low on disk.
func (n *Node) admitProduce(q Queue, i int) error {
	if n.disk.low.Load() {
		return fmt.Errorf("%w: node %s has %d bytes free", ErrDiskFull, n.cfg.NodeID, n.disk.free.Load())
	}
	for _, id := range n.cat.ReplicasOf(q.ID, i) {
		if m, ok := n.members.Member(id); ok && m.Alive && m.DiskLow {
			return fmt.Errorf("%w: node %s", ErrDiskFull, id)
		}
	}
	return nil
}

// DiskLow reports whether this node's data directory is below its
// free-space watermark.
func (n *Node) DiskLow() bool { return n.disk.low.Load() }

// DiskFree is the free space of the data directory's file system at the
// last reading, in bytes.
func (n *Node) DiskFree() uint64 { return n.disk.free.Load() }
