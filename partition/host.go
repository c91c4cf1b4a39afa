package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"raftmq/fsm"
	"raftmq/wal"
)

// TransportFactory returns the transport of one Raft group; the cluster
// multiplexes every group of a node on one listener.
type TransportFactory func(group string) (raft.Transport, error)

// Host runs every partition replica of this node, under <dir>/<partition>,
// their logs in the node's shared log (<dir>/wal) unless RaftConfig.LogStore
// picks another engine.
type Host struct {
	dir   string
	cfg   RaftConfig
	trans TransportFactory
	wal   *wal.Log // nil unless the engine is LogStoreWAL
	open  storeOpener

	mu       sync.Mutex
	replicas map[string]*Replica
	closed   bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// HousekeepingInterval is how often a leader checks for expired leases and
// retention work that no request has triggered.
const HousekeepingInterval = time.Second

// NewHost returns a host that keeps its replicas under dir.
func NewHost(dir string, cfg RaftConfig, trans TransportFactory) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partition: %w", err)
	}
	h := &Host{dir: dir, cfg: cfg, trans: trans, replicas: make(map[string]*Replica), stop: make(chan struct{})}
	if err := h.openStores(); err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go h.housekeeping()
	return h, nil
}

// openStores opens the log engine the configuration names.
func (h *Host) openStores() error {
	switch h.cfg.LogStore {
	case LogStoreBolt:
		h.open = openBoltStore(h.cfg.NoSync)
	case LogStoreRaftWAL:
		h.open = openRaftWALStore(h.cfg.NoSync)
	default:
		l, err := wal.Open(filepath.Join(h.dir, "wal"), wal.Options{SegmentSize: h.cfg.WALSegmentSize, NoSync: h.cfg.NoSync, OnSync: h.cfg.SyncObserver, OnFail: h.cfg.OnLogFailure, Logger: h.cfg.logger()})
		if errors.Is(err, wal.ErrCorrupt) {
			return &CorruptError{What: "the shared log " + filepath.Join(h.dir, "wal"), Cause: err.Error()}
		}
		if err != nil {
			return fmt.Errorf("partition: open the shared log: %w", err)
		}
		h.wal = l
		h.open = openSharedStore(l, h.cfg.NoSync)
	}
	return nil
}

// dirName maps a partition id to its directory name.
func dirName(id string) string { return strings.ReplaceAll(id, "/", "_") }

// Ensure starts the replica unless it runs already, and returns it.
func (h *Host) Ensure(spec Spec) (*Replica, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if r, ok := h.replicas[spec.ID]; ok {
		return r, nil
	}
	t, err := h.trans(spec.ID)
	if err != nil {
		return nil, fmt.Errorf("partition %s: transport: %w", spec.ID, err)
	}
	r, err := openReplica(spec, filepath.Join(h.dir, dirName(spec.ID)), h.cfg, t, h.open)
	if err != nil {
		if c, ok := t.(interface{ Close() error }); ok {
			c.Close()
		}
		return nil, err
	}
	h.replicas[spec.ID] = r
	return r, nil
}

// Get returns the running replica of partition id.
func (h *Host) Get(id string) (*Replica, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.replicas[id]
	return r, ok
}

// IDs lists the running replicas, sorted.
func (h *Host) IDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.replicas))
	for id := range h.replicas {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Remove stops the replica of partition id and deletes its data.
func (h *Host) Remove(id string) error {
	h.mu.Lock()
	r, ok := h.replicas[id]
	delete(h.replicas, id)
	h.mu.Unlock()
	if ok {
		if err := r.Close(); err != nil {
			return err
		}
	}
	if h.wal != nil {
		if err := h.wal.Drop(id); err != nil {
			return err
		}
	}
	return os.RemoveAll(filepath.Join(h.dir, dirName(id)))
}

// TransferLeadership hands off every partition this node leads, best effort,
// so that a graceful stop costs clients no election timeout.
func (h *Host) TransferLeadership() {
	h.mu.Lock()
	rs := make([]*Replica, 0, len(h.replicas))
	for _, r := range h.replicas {
		rs = append(rs, r)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.TransferLeadership()
		}()
	}
	wg.Wait()
}

// Close stops every replica.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	rs := h.replicas
	h.replicas = map[string]*Replica{}
	h.mu.Unlock()
	close(h.stop)
	h.wg.Wait()
	// At once: each may wait up to ShutdownWait for a peer that is gone.
	errs := make(chan error, len(rs))
	for _, r := range rs {
		go func() { errs <- r.Close() }()
	}
	var all []error
	for range rs {
		all = append(all, <-errs)
	}
	err := errors.Join(all...)
	if h.wal != nil && !errors.Is(err, ErrShutdownTimeout) {
		// A replica whose Raft did not stop may still write to the log:
		// it stays open for the process to exit (every write is synced).
		err = errors.Join(err, h.wal.Close())
	}
	return err
}

// housekeeping proposes a Tick on each partition this node leads when a lease
// has expired or retention has work, so that dead-lettering and trimming
// happen even when no request arrives.
func (h *Host) housekeeping() {
	defer h.wg.Done()
	t := time.NewTicker(HousekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		rs := make([]*Replica, 0, len(h.replicas))
		for _, r := range h.replicas {
			rs = append(rs, r)
		}
		h.mu.Unlock()
		for _, r := range rs {
			if !r.IsLeader() {
				continue
			}
			now := r.Now()
			var due bool
			r.Read(func(s *fsm.State) { due = s.NeedsTick(now, r.Policy()) })
			if !due {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ApplyTimeout)
			_, _ = r.Tick(ctx)
			cancel()
		}
	}
}
