package bodystore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// headerLen is the size of a record's header: CRC, length, offset.
const headerLen = 16

// DefaultSegmentBytes is the size at which the store starts a new segment.
const DefaultSegmentBytes = 64 << 20

// MaxRecord is the largest payload a record may hold.
const MaxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNotFound is returned by Get for an offset the store does not hold.
var ErrNotFound = errors.New("bodystore: no record at this offset")

// ErrCorrupt is returned by Get for a record whose checksum or offset is wrong.
var ErrCorrupt = errors.New("bodystore: corrupt record")

// Options tune a Store; the zero value takes the defaults.
type Options struct {
	SegmentBytes int64 // roll to a new segment at this size (DefaultSegmentBytes)
	// Cache, when set, holds payloads the store appends and reads ahead;
	// one Cache is shared by every store of a node.
	Cache *Cache
}

// Store is one partition's body records. See the package documentation.
type Store struct {
	dir     string
	segSize int64
	id      uint64 // random, per Open

	mu   sync.Mutex
	segs []*segment // sorted by base; the last is the active one
	w    *bufio.Writer
	err  error // sticky write error
	pins map[int]uint64
	pinN int

	cache   *space // nil without Options.Cache
	seqNext uint64 // the offset after the last Get: a Get of it reads ahead
}

type segment struct {
	base    uint64
	f       *os.File
	pos     []uint32 // pos[i]: where the record of offset base+i starts
	size    int64    // bytes written, buffered ones included
	flushed int64    // bytes handed to the file
	synced  bool     // sealed and fsynced
}

func (s *segment) end() uint64 { return s.base + uint64(len(s.pos)) }

// Open opens (creating it if needed) the store in dir and rebuilds its index,
// cutting the store at the first torn, corrupt or out-of-sequence record.
func Open(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bodystore: %w", err)
	}
	st := &Store{dir: dir, segSize: o.SegmentBytes, pins: make(map[int]uint64), id: rand.Uint64(), cache: o.Cache.newSpace()}
	if st.segSize <= 0 {
		st.segSize = DefaultSegmentBytes
	}
	bases, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	for i, b := range bases {
		seg, clean, err := st.openSegment(b)
		if err != nil {
			st.closeFiles()
			return nil, err
		}
		st.segs = append(st.segs, seg)
		if !clean || (i+1 < len(bases) && seg.end() > bases[i+1]) {
			// Everything after a damaged or overlapping point is cut.
			if err := st.removeBases(bases[i+1:]); err != nil {
				st.closeFiles()
				return nil, err
			}
			break
		}
	}
	if n := len(st.segs); n > 0 {
		last := st.segs[n-1]
		st.w = bufio.NewWriterSize(writerAt{last}, 256<<10)
	}
	return st, nil
}

func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bodystore: %w", err)
	}
	var bases []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		b, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

func (st *Store) path(base uint64) string {
	return filepath.Join(st.dir, fmt.Sprintf("%020d.seg", base))
}

// openSegment opens segment base and indexes its records; clean is false when
// it had to cut a damaged tail.
func (st *Store) openSegment(base uint64) (*segment, bool, error) {
	f, err := os.OpenFile(st.path(base), os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("bodystore: %w", err)
	}
	seg := &segment{base: base, f: f, synced: true}
	r := bufio.NewReaderSize(f, 256<<10)
	var hdr [headerLen]byte
	var payload []byte
	var at int64
	clean := true
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			clean = err == io.EOF
			break
		}
		n := binary.LittleEndian.Uint32(hdr[4:])
		off := binary.LittleEndian.Uint64(hdr[8:])
		if n > MaxRecord || off != seg.end() || at > math.MaxUint32 {
			clean = false
			break
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			clean = false
			break
		}
		if crc(hdr[4:], payload) != binary.LittleEndian.Uint32(hdr[:4]) {
			clean = false
			break
		}
		seg.pos = append(seg.pos, uint32(at))
		at += headerLen + int64(n)
	}
	seg.size, seg.flushed = at, at
	if !clean {
		if err := f.Truncate(at); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("bodystore: cut segment %d: %w", base, err)
		}
		seg.synced = false
	}
	return seg, clean, nil
}

func crc(hdrRest, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdrRest)
	return crc32.Update(c, castagnoli, payload)
}

func (st *Store) removeBases(bases []uint64) error {
	for _, b := range bases {
		if err := os.Remove(st.path(b)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("bodystore: %w", err)
		}
	}
	return nil
}

func (st *Store) closeFiles() {
	for _, s := range st.segs {
		s.f.Close()
	}
}

// writerAt appends to a segment's file at its flushed length.
type writerAt struct{ s *segment }

func (w writerAt) Write(p []byte) (int, error) {
	n, err := w.s.f.WriteAt(p, w.s.flushed)
	w.s.flushed += int64(n)
	return n, err
}

// ID identifies this open store (a random number drawn by Open): a reader of
// records can tell whether they came from this very store.
func (st *Store) ID() uint64 { return st.id }

// Range returns the first offset held and the offset after the last one;
// equal when the store is empty.
func (st *Store) Range() (first, end uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.segs) == 0 {
		return 0, 0
	}
	return st.segs[0].base, st.segs[len(st.segs)-1].end()
}

// Covers reports whether the store holds every offset in [lo, hi).
func (st *Store) Covers(lo, hi uint64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for o := lo; o < hi; {
		i := st.find(o)
		if i < 0 {
			return false
		}
		o = st.segs[i].end()
	}
	return true
}

// find returns the index of the segment holding off, or -1.
func (st *Store) find(off uint64) int {
	i := sort.Search(len(st.segs), func(i int) bool { return st.segs[i].end() > off })
	if i == len(st.segs) || st.segs[i].base > off {
		return -1
	}
	return i
}

// Append buffers the record of offset off. An offset below the end of the
// store first cuts the store there (a replayed log writes again what it
// wrote before); one beyond the end starts a new segment.
func (st *Store) Append(off uint64, payload []byte) error {
	if len(payload) > MaxRecord {
		return fmt.Errorf("bodystore: record of %d bytes", len(payload))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	if n := len(st.segs); n > 0 && off < st.segs[n-1].end() {
		if err := st.truncateLocked(off); err != nil {
			return st.fail(err)
		}
	}
	n := len(st.segs)
	if n == 0 || off != st.segs[n-1].end() || st.segs[n-1].size >= st.segSize {
		if err := st.rollLocked(off); err != nil {
			return st.fail(err)
		}
		n = len(st.segs)
	}
	seg := st.segs[n-1]
	var hdr [headerLen]byte
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(hdr[8:], off)
	binary.LittleEndian.PutUint32(hdr[:4], crc(hdr[4:], payload))
	if _, err := st.w.Write(hdr[:]); err != nil {
		return st.fail(err)
	}
	if _, err := st.w.Write(payload); err != nil {
		return st.fail(err)
	}
	seg.pos = append(seg.pos, uint32(seg.size))
	seg.size += headerLen + int64(len(payload))
	st.cache.set(off, payload)
	return nil
}

func (st *Store) fail(err error) error {
	st.err = fmt.Errorf("bodystore: write: %w", err)
	return st.err
}

// rollLocked seals the active segment (written and fsynced) and starts one
// at base.
func (st *Store) rollLocked(base uint64) error {
	if n := len(st.segs); n > 0 {
		last := st.segs[n-1]
		if err := st.w.Flush(); err != nil {
			return err
		}
		if err := last.f.Sync(); err != nil {
			return err
		}
		last.synced = true
		if len(last.pos) == 0 {
			// An empty segment (cut to nothing) is not kept.
			last.f.Close()
			if err := os.Remove(st.path(last.base)); err != nil {
				return err
			}
			st.segs = st.segs[:n-1]
		}
	}
	f, err := os.OpenFile(st.path(base), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	seg := &segment{base: base, f: f}
	st.segs = append(st.segs, seg)
	st.w = bufio.NewWriterSize(writerAt{seg}, 256<<10)
	return nil
}

// TruncateFrom removes every record at or above off.
func (st *Store) TruncateFrom(off uint64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	if err := st.truncateLocked(off); err != nil {
		return st.fail(err)
	}
	return nil
}

func (st *Store) truncateLocked(off uint64) error {
	if n := len(st.segs); n > 0 {
		st.cache.dropRange(off, st.segs[n-1].end())
	}
	if st.w != nil {
		if err := st.w.Flush(); err != nil {
			return err
		}
	}
	for len(st.segs) > 0 {
		last := st.segs[len(st.segs)-1]
		if last.base < off {
			break
		}
		last.f.Close()
		if err := os.Remove(st.path(last.base)); err != nil {
			return err
		}
		st.segs = st.segs[:len(st.segs)-1]
	}
	if len(st.segs) == 0 {
		st.w = nil
		return nil
	}
	last := st.segs[len(st.segs)-1]
	if off < last.end() {
		cut := int64(last.pos[off-last.base])
		if err := last.f.Truncate(cut); err != nil {
			return err
		}
		last.pos = last.pos[:off-last.base]
		last.size, last.flushed, last.synced = cut, cut, false
	}
	st.w = bufio.NewWriterSize(writerAt{last}, 256<<10)
	return nil
}

// Get returns the payload of the record at off: from the cache when it
// holds it, else read from the segment; a miss at the offset after the
// previous Get reads ahead (see readAheadLocked).
func (st *Store) Get(off uint64) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := st.find(off)
	if i < 0 {
		return nil, ErrNotFound
	}
	seq := off == st.seqNext
	st.seqNext = off + 1
	if b, ok := st.cache.get(off); ok {
		return b, nil
	}
	if st.cache != nil && seq {
		return st.readAheadLocked(st.segs[i], off)
	}
	b, err := st.readLocked(st.segs[i], off)
	if err == nil {
		st.cache.add(off, b)
	}
	return b, err
}

// GetUncached returns the payload of the record at off, read from its
// segment, leaving the cache as it is: for a scan of the whole store (a
// snapshot being sent) that would otherwise push out what consumers read.
func (st *Store) GetUncached(off uint64) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := st.find(off)
	if i < 0 {
		return nil, ErrNotFound
	}
	return st.readLocked(st.segs[i], off)
}

// recordEnd is where record k of seg ends.
func (seg *segment) recordEnd(k int) int64 {
	if k+1 < len(seg.pos) {
		return int64(seg.pos[k+1])
	}
	return seg.size
}

// readableLocked makes sure record k of seg is in its file, not only in
// the write buffer.
func (st *Store) readableLocked(seg *segment, k int) error {
	if seg.recordEnd(k) > seg.flushed {
		if err := st.w.Flush(); err != nil {
			return st.fail(err)
		}
	}
	return nil
}

// readLocked reads and checks the record of off, which seg holds.
func (st *Store) readLocked(seg *segment, off uint64) ([]byte, error) {
	k := int(off - seg.base)
	if err := st.readableLocked(seg, k); err != nil {
		return nil, err
	}
	at := int64(seg.pos[k])
	b := make([]byte, seg.recordEnd(k)-at)
	if _, err := seg.f.ReadAt(b, at); err != nil {
		return nil, fmt.Errorf("bodystore: read %d: %w", off, err)
	}
	return verify(b, off)
}

// verify checks record b, which should be the record of off, and returns
// its payload.
func verify(b []byte, off uint64) ([]byte, error) {
	if len(b) < headerLen || binary.LittleEndian.Uint64(b[8:]) != off ||
		int(binary.LittleEndian.Uint32(b[4:])) != len(b)-headerLen ||
		crc(b[4:headerLen], b[headerLen:]) != binary.LittleEndian.Uint32(b) {
		return nil, fmt.Errorf("%w at offset %d", ErrCorrupt, off)
	}
	return b[headerLen:], nil
}

// readAheadLocked reads the record of off and the records after it in seg,
// up to ReadAheadBytes in all and no further than what the file holds, in
// one read; it checks each as readLocked does and caches them. A damaged
// record after off ends what is cached; off's own is an error.
func (st *Store) readAheadLocked(seg *segment, off uint64) ([]byte, error) {
	k := int(off - seg.base)
	if err := st.readableLocked(seg, k); err != nil {
		return nil, err
	}
	at := int64(seg.pos[k])
	limit := min(at+ReadAheadBytes, seg.flushed)
	fit := sort.Search(len(seg.pos)-k, func(x int) bool { return seg.recordEnd(k+x) > limit })
	last := k + max(fit, 1) - 1
	buf := make([]byte, seg.recordEnd(last)-at)
	if _, err := seg.f.ReadAt(buf, at); err != nil {
		return nil, fmt.Errorf("bodystore: read %d: %w", off, err)
	}
	var first []byte
	for x := k; x <= last; x++ {
		p, err := verify(buf[int64(seg.pos[x])-at:seg.recordEnd(x)-at], seg.base+uint64(x))
		if err != nil {
			if x == k {
				return nil, err
			}
			break
		}
		if x == k {
			first = slices.Clone(p) // not a window on buf: the caller may keep it
		}
		st.cache.add(seg.base+uint64(x), p)
	}
	return first, nil
}

// Held returns how many records the store holds in [lo, hi) and the sum of
// their payload lengths.
func (st *Store) Held(lo, hi uint64) (count int, bytes int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, seg := range st.segs {
		a, b := max(lo, seg.base), min(hi, seg.end())
		if a >= b {
			continue
		}
		to := seg.size
		if k := b - seg.base; k < uint64(len(seg.pos)) {
			to = int64(seg.pos[k])
		}
		count += int(b - a)
		bytes += to - int64(seg.pos[a-seg.base]) - headerLen*int64(b-a)
	}
	return count, bytes
}

// Next returns the lowest offset held in [off, hi), and false when there
// is none.
func (st *Store) Next(off, hi uint64) (uint64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := sort.Search(len(st.segs), func(i int) bool { return st.segs[i].end() > off })
	if i == len(st.segs) {
		return 0, false
	}
	o := max(off, st.segs[i].base)
	return o, o < hi
}

// Sync writes what is buffered and fsyncs every segment not yet synced.
func (st *Store) Sync() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	if st.w != nil {
		if err := st.w.Flush(); err != nil {
			return st.fail(err)
		}
	}
	for _, s := range st.segs {
		if s.synced {
			continue
		}
		if err := s.f.Sync(); err != nil {
			return st.fail(err)
		}
		// Only a sealed segment stays synced: the active one grows.
		s.synced = s != st.segs[len(st.segs)-1]
	}
	return syncDir(st.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Pin keeps every record at or above lo from reclamation until unpin is
// called (a snapshot being sent reads them).
func (st *Store) Pin(lo uint64) (unpin func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.pinN
	st.pinN++
	st.pins[id] = lo
	return func() {
		st.mu.Lock()
		delete(st.pins, id)
		st.mu.Unlock()
	}
}

// Reclaim deletes every segment whose records all lie below floor (and below
// every pin). It returns the number of segments deleted. The active segment
// is never deleted.
func (st *Store) Reclaim(floor uint64) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.pins {
		floor = min(floor, p)
	}
	k := 0
	for k < len(st.segs)-1 && st.segs[k].end() <= floor {
		k++
	}
	if k > 0 {
		st.cache.dropRange(st.segs[0].base, st.segs[k-1].end())
	}
	for _, s := range st.segs[:k] {
		s.f.Close()
		if err := os.Remove(st.path(s.base)); err != nil && !os.IsNotExist(err) {
			st.segs = st.segs[k:]
			return k, fmt.Errorf("bodystore: reclaim: %w", err)
		}
	}
	st.segs = slices.Delete(st.segs, 0, k)
	return k, nil
}

// Reset deletes every record: a restored snapshot brings its own.
func (st *Store) Reset() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cache.dropAll()
	st.closeFiles()
	bases := make([]uint64, len(st.segs))
	for i, s := range st.segs {
		bases[i] = s.base
	}
	st.segs, st.w, st.err = nil, nil, nil
	return st.removeBases(bases)
}

// Segments is the number of segment files.
func (st *Store) Segments() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.segs)
}

// Close flushes what is buffered (without fsync) and closes the files.
func (st *Store) Close() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var err error
	if st.w != nil && st.err == nil {
		err = st.w.Flush()
	}
	st.closeFiles()
	st.cache.close()
	st.segs, st.w = nil, nil
	if st.err == nil {
		st.err = errors.New("bodystore: closed")
	}
	return err
}
