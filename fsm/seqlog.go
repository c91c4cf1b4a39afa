package fsm

// chunkLen is the number of entries per chunk of a seqLog.
const chunkLen = 1024

// seqLog holds entries at dense sequence numbers [base, base+n): the
// partition's messages, or a group's dead letters. Entries live in chunks of
// chunkLen, so appending never copies the log (a plain slice would copy all
// of it on growth, inside Apply) and trimming the front frees memory a chunk
// at a time. Only the first chunk of a log starts small and grows, so that a
// group with a few dead letters does not pay for a whole chunk.
type seqLog[E any] struct {
	base   uint64 // sequence number of the first entry
	n      int    // number of entries
	head   int    // position of the first entry in chunks[0]
	chunks [][]E  // every chunk but the last holds chunkLen entries

	// shared: a snapshot being written may read the chunks (see snapView),
	// so dropped entries are left as they are (a chunk is freed when all of
	// it is dropped) instead of being cleared.
	shared bool
}

func (l *seqLog[E]) len() int    { return l.n }
func (l *seqLog[E]) end() uint64 { return l.base + uint64(l.n) }

// at returns the entry with sequence number seq, which must be retained.
func (l *seqLog[E]) at(seq uint64) *E { return l.nth(int(seq - l.base)) }

// nth returns the i-th retained entry, 0 ≤ i < len.
func (l *seqLog[E]) nth(i int) *E {
	i += l.head
	return &l.chunks[i/chunkLen][i%chunkLen]
}

func (l *seqLog[E]) push(e E) {
	k := len(l.chunks)
	if k == 0 || len(l.chunks[k-1]) == chunkLen {
		size := chunkLen
		if k == 0 {
			size = 8
		}
		l.chunks = append(l.chunks, make([]E, 0, size))
		k++
	}
	l.chunks[k-1] = append(l.chunks[k-1], e)
	l.n++
}

// dropFront removes the k oldest entries, clearing them so that nothing
// keeps what they reference, and lets go of chunks that emptied.
func (l *seqLog[E]) dropFront(k int) {
	k = min(k, l.n)
	l.base += uint64(k)
	l.n -= k
	for k > 0 {
		c := l.chunks[0]
		avail := len(c) - l.head
		if k < avail {
			if !l.shared {
				clear(c[l.head : l.head+k])
			}
			l.head += k
			break
		}
		if !l.shared {
			clear(c[l.head:])
		}
		k -= avail
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.head = 0
	}
	if l.n == 0 {
		l.chunks, l.head = nil, 0
	}
}

// search returns the smallest i in [0, len) for which f(i-th entry) is true,
// or len, assuming f is false then true along the log.
func (l *seqLog[E]) search(f func(*E) bool) int {
	lo, hi := 0, l.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !f(l.nth(mid)) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
