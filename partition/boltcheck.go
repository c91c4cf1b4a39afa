package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt v1.3.x, little-endian hosts):
// a 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (root page, sequence), the freelist page, the
// high-water page id, the transaction id (8 bytes each) and an FNV-64a of
// the 56 bytes before it.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltPageHeader = 16
	boltMetaLen    = 64
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64 // pages in use: the file must hold pgid × pageSize bytes
	txid     uint64
}

func parseBoltMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltPageHeader+boltMetaLen {
		return boltMeta{}, false
	}
	m := b[boltPageHeader : boltPageHeader+boltMetaLen]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if sum := le.Uint64(m[56:]); sum != 0 && sum != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkBoltFile refuses a bolt file shorter than its newest valid meta page
// says it is: bbolt would map the missing pages and the process would die
// of SIGBUS the first time it touched one (FAULTS.md T7: a log cut short).
// A missing file is fine (a new replica); a file with no valid meta page is
// left to bbolt, which refuses it.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	first := make([]byte, boltPageHeader+boltMetaLen)
	if _, err := io.ReadFull(f, first); err != nil {
		return nil // too short for bbolt's own checks to pass either
	}
	best, ok := parseBoltMeta(first)
	size := int64(4096)
	if ok {
		size = int64(best.pageSize)
	}
	second := make([]byte, boltPageHeader+boltMetaLen)
	if _, err := f.ReadAt(second, size); err == nil {
		if m, ok2 := parseBoltMeta(second); ok2 && (!ok || m.txid > best.txid) {
			best, ok = m, true
		}
	}
	if !ok {
		return nil
	}
	if need := int64(best.pgid) * int64(best.pageSize); st.Size() < need {
		return &CorruptError{What: path, Cause: fmt.Sprintf("%d bytes, but its meta page (transaction %d) uses %d", st.Size(), best.txid, need)}
	}
	return nil
}
