package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Log; zero values take the defaults.
type Options struct {
	// SegmentSize is the size at which the writer starts a new segment
	// (default 64 MiB). Reclamation works a segment at a time.
	SegmentSize int64
	// NoSync skips fdatasync: acknowledged writes can be lost. Only for the
	// fault suite's negative control.
	NoSync bool
	// OnSync, when set, is told how long every fdatasync took.
	OnSync func(time.Duration)
	// OnFail, when set, is called once when the log stops accepting writes
	// (a failed write or fdatasync): the node should stop and let its
	// groups fail over rather than run on a log that cannot write.
	OnFail func(error)
	Logger *slog.Logger
}

func (o Options) segmentSize() int64 {
	if o.SegmentSize > 0 {
		return o.SegmentSize
	}
	return 64 << 20
}

// maxGather bounds how many bytes of waiting writes one group commit takes.
const maxGather = 8 << 20

// Log is the node's shared write-ahead log. Open it once per data
// directory; Group gives each Raft group its store.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	segs   map[uint32]*segment // every segment on disk, by number
	groups map[uint32]*Group
	byName map[string]*Group
	nextID uint32
	failed error // sticky: the first write or sync error

	createMu sync.Mutex  // one Group creation at a time
	noSync   atomic.Bool // Options.NoSync (tests turn it on for a last write)

	pending map[uint32][]op // during recovery: frames of groups not defined yet

	reqs    chan *request
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once

	spares       chan *os.File // zero-filled files ready to become segments
	spareSeq     atomic.Uint64
	spareErr     atomic.Pointer[error] // the preparer's last failure, nil once it succeeds
	spareFailed  chan struct{}         // signalled when the preparer fails
	preparerDone chan struct{}

	// Owned by the writer goroutine.
	active  *segment
	buf     []byte
	reclaim bool // a segment may have become reclaimable
}

type segment struct {
	num   uint32
	f     *os.File
	size  int64 // bytes written (the writer's view; read under Log.mu)
	alloc int64 // the file's length: writes below it need no new space (writer only)
}

func segName(num uint32) string { return fmt.Sprintf("%016x.wal", num) }

// loc is where one frame lives.
type loc struct {
	seg, off, n uint32
}

// request is one caller's write: frames it encoded, and what to change in
// memory once they are on disk (called under Log.mu with where buf landed).
type request struct {
	buf   []byte
	apply func(seg, off uint32)
	done  chan error
	// reserved: a small write that may use the end of a segment kept free
	// for when no new segment can be made (segReserve).
	reserved bool
}

// Open opens (or creates) the log in dir and recovers its state.
func Open(dir string, opts Options) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{
		dir: dir, opts: opts, log: opts.Logger,
		segs: map[uint32]*segment{}, groups: map[uint32]*Group{}, byName: map[string]*Group{}, nextID: 1,
		pending: map[uint32][]op{},
		reqs:    make(chan *request), closing: make(chan struct{}), stopped: make(chan struct{}),
		spares: make(chan *os.File, 1), spareFailed: make(chan struct{}, 1), preparerDone: make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.noSync.Store(opts.NoSync)
	if err := removeSpares(dir); err != nil {
		return nil, err
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	go l.preparer()
	go l.writer()
	return l, nil
}

// removeSpares deletes spare files a crash left behind.
func removeSpares(dir string) error {
	spares, err := filepath.Glob(filepath.Join(dir, "spare-*.tmp"))
	for _, p := range spares {
		if err == nil {
			err = os.Remove(p)
		}
	}
	return err
}

// segmentNumbers lists the segment files in dir, oldest first.
func segmentNumbers(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 32)
		if err != nil || len(name) != 16 || n == 0 {
			return nil, fmt.Errorf("wal: unexpected file %s in %s", e.Name(), dir)
		}
		nums = append(nums, uint32(n))
	}
	slices.Sort(nums)
	return nums, nil
}

// recover replays every segment and makes the newest one active.
func (l *Log) recover() error {
	nums, err := segmentNumbers(l.dir)
	if err != nil {
		return err
	}
	for i, num := range nums {
		seg, err := l.replaySegment(num, i == len(nums)-1)
		if err != nil {
			return err
		}
		l.segs[num] = seg
		l.active = seg
	}
	for _, g := range l.groups {
		g.extendDown()
		g.parked = nil
	}
	l.pending = nil
	if l.active == nil {
		return l.roll(1, func() (*os.File, error) { return l.makeSpare(false) })
	}
	return nil
}

// replaySegment applies one segment's frames. In the newest segment a torn
// last write is cut off; anything else that does not read is corruption.
func (l *Log) replaySegment(num uint32, newest bool) (*segment, error) {
	path := filepath.Join(l.dir, segName(num))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	seg := &segment{num: num, f: f, alloc: int64(len(data))}
	corrupt := func(off int, why string) error {
		f.Close()
		return &CorruptError{Segment: segName(num), Offset: int64(off), Why: why}
	}
	nextID, err := checkHeader(data, num)
	if err != nil {
		if !newest || !allZero(data) {
			return nil, corrupt(0, err.Error())
		}
		// Created but never synced: start it again.
		if err := l.writeHeader(seg); err != nil {
			f.Close()
			return nil, err
		}
		return seg, nil
	}
	l.nextID = max(l.nextID, nextID)
	end, torn, err := l.replayFrames(data, num)
	if err != nil {
		return nil, corrupt(end, err.Error())
	}
	if torn {
		if !newest {
			return nil, corrupt(end, "incomplete write in a sealed segment")
		}
		l.log.Warn("wal: cutting off a torn write at the end of the log", "segment", segName(num), "offset", end, "bytes", nonZeroEnd(data)-end)
		if err := l.zeroTail(f, data, end); err != nil {
			f.Close()
			return nil, err
		}
	}
	seg.size = int64(end)
	return seg, nil
}

// zeroTail overwrites what a torn write left after end with zeros (the
// segment keeps its preallocated length) and makes that durable.
func (l *Log) zeroTail(f *os.File, data []byte, end int) error {
	if _, err := f.WriteAt(make([]byte, nonZeroEnd(data)-end), int64(end)); err != nil {
		return err
	}
	return l.sync(f)
}

// nonZeroEnd is the length of data without its trailing zeros.
func nonZeroEnd(data []byte) int {
	n := len(data)
	for n > 0 && data[n-1] == 0 {
		n--
	}
	return n
}

// checkHeader verifies a segment's header and returns the first group
// number not yet given out when the segment was started: numbers are never
// reused, even after every frame of a dropped group is reclaimed.
func checkHeader(data []byte, num uint32) (uint32, error) {
	if len(data) < segHeaderLen || string(data[:8]) != segMagic {
		return 0, errors.New("no segment header")
	}
	if got := binary.LittleEndian.Uint32(data[8:]); got != num {
		return 0, fmt.Errorf("header names segment %d", got)
	}
	return binary.LittleEndian.Uint32(data[12:]), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// replayFrames applies the writes in data (a whole segment). It returns
// where the valid log ends and whether what follows is a torn write. Only
// the last write can be torn (the writer syncs each write before the
// next), and a torn write can be anything: cut short, or with some of its
// pages on disk and others not. So a write that does not read is torn when
// no other write starts after it, and corruption when one does.
func (l *Log) replayFrames(data []byte, num uint32) (end int, torn bool, err error) {
	off := segHeaderLen
	for off < len(data) {
		ops, wend, err := readWrite(data, off, num)
		if err != nil && allZero(data[off:]) {
			break // the unused, preallocated rest of the segment
		}
		if err != nil {
			if laterWrite(data, off+1) {
				return off, false, err
			}
			return off, true, nil
		}
		for _, o := range ops {
			l.replayFrame(o.f, o.at)
		}
		off = wend
	}
	return off, false, nil
}

type readFrame struct {
	f  frame
	at loc
}

// readWrite reads the whole write that starts at off: its batch frame and
// every frame in it. Frames are applied only once all of them read.
func readWrite(data []byte, off int, num uint32) ([]readFrame, int, error) {
	bf, n, err := parseFrame(data[off:])
	if err != nil || bf.kind != kindBatch {
		return nil, 0, fmt.Errorf("expected a write to start here: %v", err)
	}
	wend := off + int(bf.index())
	if wend > len(data) || wend < off+n {
		return nil, 0, fmt.Errorf("a write of %d bytes does not fit", bf.index())
	}
	var out []readFrame
	for p := off + n; p < wend; {
		f, fn, err := parseFrame(data[p:wend])
		if err != nil {
			return nil, 0, fmt.Errorf("frame at offset %d %v", p, err)
		}
		out = append(out, readFrame{f: f, at: loc{seg: num, off: uint32(p), n: uint32(fn)}})
		p += fn
	}
	return out, wend, nil
}

// laterWrite reports whether a valid batch frame starts anywhere in data
// from offset from on.
func laterWrite(data []byte, from int) bool {
	for p := from; p+batchHeadLen <= len(data); p++ {
		if data[p+8] != byte(kindBatch) || data[p+4] != 12 || data[p+5]|data[p+6]|data[p+7] != 0 {
			continue
		}
		if f, _, err := parseFrame(data[p : p+batchHeadLen]); err == nil && f.kind == kindBatch && f.group == 0 {
			return true
		}
	}
	return false
}

// op is one frame's effect, kept apart from the segment's bytes so that
// frames read before their group's define can wait for it.
type op struct {
	kind  kind
	group uint32
	idx   uint64
	key   string
	val   []byte
	at    loc
}

func opOf(f frame, at loc) op {
	o := op{kind: f.kind, group: f.group, at: at}
	switch f.kind {
	case kindEntry, kindMoved, kindPrefix, kindSuffix:
		o.idx = f.index()
	case kindStable:
		k, v := f.stable()
		o.key, o.val = string(k), slices.Clone(v)
	case kindDefine:
		o.key = string(f.payload)
	}
	return o
}

// replayFrame applies one frame read back from disk. Reclamation can copy
// a group's define forward past the group's other frames, so frames of a
// group not defined yet wait (in order) until its define is read; those of
// dropped groups wait for ever and are forgotten after recovery.
func (l *Log) replayFrame(f frame, at loc) {
	o := opOf(f, at)
	if o.kind == kindDefine {
		l.define(o.group, o.key, at.seg)
		g := l.groups[o.group]
		for _, p := range l.pending[o.group] {
			g.replay(p)
		}
		delete(l.pending, o.group)
		return
	}
	if g := l.groups[o.group]; g != nil {
		g.replay(o)
		return
	}
	l.pending[o.group] = append(l.pending[o.group], o)
}

func (g *Group) replay(o op) {
	switch o.kind {
	case kindEntry:
		g.putEntry(o.idx, o.at)
	case kindMoved:
		g.putMoved(o.idx, o.at)
	case kindPrefix:
		g.dropBefore(o.idx)
	case kindSuffix:
		g.dropFrom(o.idx)
	case kindStable:
		g.stable[o.key] = stableVal{val: o.val, seg: o.at.seg}
	case kindDrop:
		g.l.forget(g)
	}
}

// define records group id's name (in memory, under mu or during recovery).
func (l *Log) define(id uint32, name string, seg uint32) {
	if old := l.byName[name]; old != nil && old.id != id {
		l.forget(old)
	}
	g := l.groups[id]
	if g == nil {
		g = &Group{l: l, id: id, name: name, stable: map[string]stableVal{}}
		l.groups[id] = g
		l.byName[name] = g
	}
	g.defSeg = seg
	l.nextID = max(l.nextID, id+1)
}

func (l *Log) forget(g *Group) {
	g.dropped = true
	g.locs = nil
	g.first = 0
	delete(l.groups, g.id)
	if l.byName[g.name] == g {
		delete(l.byName, g.name)
	}
	l.reclaim = true
}

// writeHeader starts an empty segment file and makes it durable.
func (l *Log) writeHeader(seg *segment) error {
	hdr := make([]byte, segHeaderLen)
	copy(hdr, segMagic)
	binary.LittleEndian.PutUint32(hdr[8:], seg.num)
	l.mu.RLock()
	binary.LittleEndian.PutUint32(hdr[12:], l.nextID)
	l.mu.RUnlock()
	if _, err := seg.f.WriteAt(hdr, 0); err != nil {
		return err
	}
	seg.size = segHeaderLen
	// Always durable, even with NoSync: a segment that exists without its
	// header cannot be read back (NoSync is meant to lose writes, not the
	// log).
	return unix.Fdatasync(int(seg.f.Fd()))
}

// roll starts segment num and makes it the active one: a spare file,
// already zero-filled to the segment size and synced, gets its header and
// its name. Writes then overwrite zeros inside the file's length, so an
// fdatasync flushes data without a journal commit for a new size.
//
// Until the rename nothing the log reads has changed, so a failure there
// (no spare: the file system is full) is an ErrNoSpace the writer answers
// without failing the log; the spare is deleted, never left half made
// under a segment's name.
func (l *Log) roll(num uint32, spare func() (*os.File, error)) error {
	f, err := spare()
	if err != nil {
		return noSpace(err)
	}
	seg := &segment{num: num, f: f, alloc: l.opts.segmentSize()}
	if err := l.writeHeader(seg); err != nil {
		discard(f)
		return noSpace(err)
	}
	if err := os.Rename(f.Name(), filepath.Join(l.dir, segName(num))); err != nil {
		discard(f)
		return noSpace(err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.mu.Lock()
	l.segs[num] = seg
	l.mu.Unlock()
	l.active = seg
	l.reclaim = true
	return nil
}

func noSpace(err error) error {
	if errors.Is(err, ErrNoSpace) || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}

// discard closes and deletes a spare file.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// takeSpare returns the spare the preparer made. It waits while the
// preparer is at work; when the preparer's last attempt failed (the file
// system is full) it answers that failure at once rather than stall every
// write, and the preparer tries again after prepareRetry.
func (l *Log) takeSpare() (*os.File, error) {
	select {
	case f := <-l.spares:
		return f, nil
	default:
	}
	if p := l.spareErr.Load(); p != nil {
		return nil, *p
	}
	select {
	case f := <-l.spares:
		return f, nil
	case <-l.closing:
		return nil, ErrClosed
	case <-l.spareFailed:
		if p := l.spareErr.Load(); p != nil {
			return nil, *p
		}
		return nil, noSpace(errors.New("preparing the next segment failed"))
	}
}

// preparer keeps one spare segment ready for the writer's next roll. A
// failure (typically ENOSPC) is published for takeSpare and retried after
// prepareRetry: space freed later (segments reclaimed, files deleted) lets
// the log grow again.
func (l *Log) preparer() {
	defer close(l.preparerDone)
	for {
		f, err := l.makeSpare(true)
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			l.log.Warn("wal: preparing the next segment", "err", err)
			err = noSpace(err)
			l.spareErr.Store(&err)
			select {
			case l.spareFailed <- struct{}{}:
			default:
			}
			select {
			case <-time.After(prepareRetry):
				continue
			case <-l.closing:
				return
			}
		}
		l.spareErr.Store(nil)
		select {
		case <-l.spareFailed:
		default:
		}
		select {
		case l.spares <- f:
		case <-l.closing:
			discard(f)
			return
		}
	}
}

// prepareRetry is the pause before the preparer tries again after failing.
const prepareRetry = time.Second

// makeSpare creates a zero-filled file of the segment size, synced. It
// writes and flushes a small chunk at a time, pausing between chunks when
// paced: one large flush queued at the disk makes the active segment's
// fdatasyncs wait behind it (ten times slower here), small ones do not.
func (l *Log) makeSpare(paced bool) (*os.File, error) {
	l.spareSeq.Add(1)
	path := filepath.Join(l.dir, fmt.Sprintf("spare-%d.tmp", l.spareSeq.Load()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, spareChunk)
	for off := int64(0); off < l.opts.segmentSize(); off += spareChunk {
		n := min(spareChunk, l.opts.segmentSize()-off)
		_, err := f.WriteAt(zeros[:n], off)
		if err == nil && !l.noSync.Load() {
			err = unix.Fdatasync(int(f.Fd()))
		}
		if err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		if paced {
			select {
			case <-time.After(sparePause):
			case <-l.closing:
				f.Close()
				os.Remove(path)
				return nil, ErrClosed
			}
		}
	}
	return f, nil
}

// Zero-filling a spare: chunk size and the pause between chunks (about
// 100 MB/s, faster than the log fills on this machine's disk).
const (
	spareChunk = 256 << 10
	sparePause = time.Millisecond
)

func (l *Log) sync(f *os.File) error {
	if l.noSync.Load() {
		return nil
	}
	start := time.Now()
	err := unix.Fdatasync(int(f.Fd()))
	if l.opts.OnSync != nil {
		l.opts.OnSync(time.Since(start))
	}
	return err
}

func (l *Log) syncDir() error {
	if l.noSync.Load() {
		return nil
	}
	return syncDir(l.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// submit hands a write to the writer and waits until it is on disk.
func (l *Log) submit(buf []byte, apply func(seg, off uint32)) error {
	return l.send(&request{buf: buf, apply: apply, done: make(chan error, 1)})
}

// submitReserved is submit for a write that may use the segment's reserve.
func (l *Log) submitReserved(buf []byte, apply func(seg, off uint32)) error {
	return l.send(&request{buf: buf, apply: apply, done: make(chan error, 1), reserved: true})
}

func (l *Log) send(r *request) error {
	select {
	case l.reqs <- r:
	case <-l.closing:
		return ErrClosed
	}
	return <-r.done
}

// writer is the one goroutine that writes: it takes every request that is
// waiting, writes them with one write and one fdatasync, publishes them,
// answers them, and reclaims segments between writes.
func (l *Log) writer() {
	defer close(l.stopped)
	var batch []*request
	for {
		batch = batch[:0]
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-l.closing:
			return
		}
		size := len(batch[0].buf)
	gather:
		for size < maxGather {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				size += len(r.buf)
			default:
				break gather
			}
		}
		batch, err := l.commit(batch)
		for _, r := range batch {
			r.done <- err
		}
		if err == nil && l.reclaim {
			l.reclaimSegments()
		}
	}
}

// commit writes batch as one write, behind a batch frame, and publishes it.
// It returns the requests it wrote or failed together; makeRoom may have
// answered others already.
func (l *Log) commit(batch []*request) ([]*request, error) {
	if l.failed != nil {
		return batch, l.failed
	}
	batch, err := l.makeRoom(batch)
	if err != nil || len(batch) == 0 {
		return batch, err
	}
	size := batchSize(batch)
	buf := slices.Grow(l.buf[:0], size)[:batchHeadLen]
	for _, r := range batch {
		buf = append(buf, r.buf...)
	}
	putBatch(buf)
	l.buf = buf[:0]
	seg := l.active
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		if errors.Is(err, syscall.ENOSPC) && l.undoWrite(seg, len(buf)) == nil {
			return batch, noSpace(err) // cut back: nothing of it is left
		}
		return batch, l.fail(err)
	}
	seg.alloc = max(seg.alloc, seg.size+int64(size))
	if err := l.sync(seg.f); err != nil {
		return batch, l.fail(err)
	}
	l.mu.Lock()
	off := uint32(seg.size) + batchHeadLen
	for _, r := range batch {
		r.apply(seg.num, off)
		off += uint32(len(r.buf))
	}
	seg.size += int64(size)
	l.mu.Unlock()
	return batch, nil
}

// undoWrite removes what a write of n bytes at the end of seg that failed
// for want of space left: the file is cut back to its preallocated length
// and the part of the write inside it overwritten with zeros, durably, so
// that neither a later write nor recovery ever reads it. A write past the
// preallocated length (only a write larger than what is left of a fresh
// segment goes there) is the one that can meet ENOSPC.
func (l *Log) undoWrite(seg *segment, n int) error {
	end := seg.size + int64(n)
	if end > seg.alloc {
		if err := seg.f.Truncate(seg.alloc); err != nil {
			return err
		}
	}
	if zeros := min(end, seg.alloc) - seg.size; zeros > 0 {
		if _, err := seg.f.WriteAt(make([]byte, zeros), seg.size); err != nil {
			return err
		}
	}
	return l.sync(seg.f)
}

func batchSize(batch []*request) int {
	size := batchHeadLen
	for _, r := range batch {
		size += len(r.buf)
	}
	return size
}

// makeRoom rolls to a new segment when batch does not fit the active one.
// When no new segment can be made (the file system is full), the requests
// that may use the reserve at the end of the segment (term, vote,
// truncations, drops: small, and they free space or keep Raft running)
// are kept if they fit, and the others are answered ErrNoSpace: nothing of
// them was written, and the log stays usable.
func (l *Log) makeRoom(batch []*request) ([]*request, error) {
	if l.fits(batchSize(batch), reservedOnly(batch)) {
		return batch, nil
	}
	err := l.roll(l.active.num+1, l.takeSpare)
	if err == nil || errors.Is(err, ErrClosed) {
		return batch, err
	}
	if !errors.Is(err, ErrNoSpace) {
		return batch, l.fail(err)
	}
	var keep []*request
	for _, r := range batch {
		if r.reserved {
			keep = append(keep, r)
		} else {
			r.done <- err
		}
	}
	if len(keep) == 0 {
		return nil, err
	}
	if !l.fits(batchSize(keep), true) {
		return keep, err
	}
	return keep, nil
}

// fits reports whether a write of size bytes goes into the active segment.
// An empty segment takes any write; otherwise entries leave the segment's
// last 1/segReserve free for reserved writes.
func (l *Log) fits(size int, reserved bool) bool {
	if l.active.size <= segHeaderLen {
		return true
	}
	limit := l.opts.segmentSize()
	if !reserved {
		limit -= limit / segReserve
	}
	end := l.active.size + int64(size)
	return end <= limit && end <= 1<<31
}

// segReserve: the last 1/segReserve of every segment (2 MiB of 64 MiB)
// is kept for reserved writes, so that a node whose file system is full
// can still record a term or vote (hashicorp/raft panics when it cannot)
// and the truncations that let segments be reclaimed.
const segReserve = 32

func reservedOnly(batch []*request) bool {
	for _, r := range batch {
		if !r.reserved {
			return false
		}
	}
	return true
}

// fail makes the log refuse every later write. It is the answer to a
// failed frame write or fdatasync: after a failed fdatasync the page cache
// may hold pages that never reach the disk, or have dropped them, so
// neither retrying nor carrying on can tell what is durable. Nothing of
// the failed write was acknowledged, and recovery cuts it off as a torn
// last write; Options.OnFail lets the node stop and restart from disk.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	first := l.failed == nil
	if first {
		l.failed = fmt.Errorf("wal: %w (the log accepts no more writes)", err)
		l.log.Error("wal: write failed; refusing every later write", "err", err)
	}
	failed := l.failed
	l.mu.Unlock()
	if first && l.opts.OnFail != nil {
		l.opts.OnFail(failed)
	}
	return failed
}

// Group returns the store of the group called name, creating it (durably)
// when the log has none.
func (l *Log) Group(name string) (*Group, error) {
	if name == "" || len(name) > 1024 {
		return nil, fmt.Errorf("wal: bad group name %q", name)
	}
	l.createMu.Lock()
	defer l.createMu.Unlock()
	l.mu.Lock()
	if g := l.byName[name]; g != nil {
		l.mu.Unlock()
		return g, nil
	}
	id := l.nextID
	l.nextID++
	l.mu.Unlock()
	buf := appendDefine(nil, id, name)
	if err := l.submit(buf, func(seg, _ uint32) { l.define(id, name, seg) }); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.byName[name], nil
}

// Has reports whether the log holds a group called name.
func (l *Log) Has(name string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.byName[name] != nil
}

// Drop forgets the group called name: its entries and stable values are
// gone and its space is reclaimed with the segments that held them.
func (l *Log) Drop(name string) error {
	l.mu.RLock()
	g := l.byName[name]
	l.mu.RUnlock()
	if g == nil {
		return nil
	}
	return l.submitReserved(appendDrop(nil, g.id), func(uint32, uint32) { l.forget(g) })
}

// Close stops the writer and closes the files. Its last write is an empty
// one: after a clean stop no write is the last, so recovery reads damage
// anywhere, the final write included, as corruption rather than as a torn
// write.
func (l *Log) Close() error {
	l.once.Do(func() {
		_ = l.submitReserved(nil, func(uint32, uint32) {})
		close(l.closing)
		<-l.stopped
		<-l.preparerDone
		select {
		case f := <-l.spares:
			f.Close()
			os.Remove(f.Name())
		default:
		}
		l.closeFiles()
	})
	return nil
}

func (l *Log) closeFiles() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		s.f.Close()
	}
	if l.active != nil && l.segs[l.active.num] == nil {
		l.active.f.Close()
	}
}

// Stats describes the log's files.
type Stats struct {
	Segments int
	Bytes    int64
	Groups   int
}

// Stats returns the number of segments and their bytes.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := Stats{Segments: len(l.segs), Groups: len(l.groups)}
	for _, seg := range l.segs {
		s.Bytes += seg.size
	}
	return s
}
