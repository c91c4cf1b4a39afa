package fsm

import (
	"encoding/binary"
	"fmt"
)

// Encoding of Enqueue version 3 and of TxnCheck and TxnEnd (see Encode).

// checkEnqueueV3 refuses what version 3 cannot hold.
func checkEnqueueV3(c *Enqueue) error {
	switch {
	case c.HalfCheckMs < 0:
		return fmt.Errorf("%w: enqueue: negative half check time %d", ErrInvalidCommand, c.HalfCheckMs)
	case c.DedupIDs != nil && len(c.DedupIDs) != len(c.Messages):
		return fmt.Errorf("%w: enqueue: %d dedup ids for %d messages", ErrInvalidCommand, len(c.DedupIDs), len(c.Messages))
	case c.HalfCheckMs > 0 && len(c.DedupIDs) > 0:
		return fmt.Errorf("%w: enqueue: dedup ids on half messages", ErrInvalidCommand)
	}
	return nil
}

func appendEnqueueV3(b []byte, c *Enqueue) []byte {
	b = binary.AppendVarint(b, c.HalfCheckMs)
	b = binary.AppendUvarint(b, uint64(len(c.DedupIDs)))
	for _, id := range c.DedupIDs {
		b = appendBytes(b, []byte(id))
	}
	return b
}

// enqueueV3 reads the version 3 tail of an Enqueue into e.
func (r *decoder) enqueueV3(e *Enqueue) {
	e.HalfCheckMs = r.varint()
	k := r.count(1)
	for i := 0; i < k && r.err == nil; i++ {
		e.DedupIDs = append(e.DedupIDs, string(r.bytes()))
	}
	switch {
	case r.err != nil:
	case e.HalfCheckMs < 0:
		r.fail("negative half check time")
	case k != 0 && k != len(e.Messages):
		r.fail("%d dedup ids for %d messages", k, len(e.Messages))
	case e.HalfCheckMs > 0 && k > 0:
		r.fail("dedup ids on half messages")
	case e.HalfCheckMs == 0 && k == 0:
		r.fail("version 3 without version 3 fields")
	}
}

func appendTxn(b []byte, c Command) ([]byte, error) {
	switch c := c.(type) {
	case *TxnCheck:
		if c == nil {
			break
		}
		if c.Max < 0 || c.MaxBytes < 0 {
			return nil, fmt.Errorf("%w: txn check: negative max %d or max bytes %d", ErrInvalidCommand, c.Max, c.MaxBytes)
		}
		b = append(b, byte(TypeTxnCheck), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = binary.AppendUvarint(b, uint64(c.Max))
		return binary.AppendUvarint(b, uint64(c.MaxBytes)), nil
	case *TxnEnd:
		if c == nil {
			break
		}
		b = append(b, byte(TypeTxnEnd), encodingVersion)
		b = appendHeader(b, &c.Header)
		b = binary.AppendUvarint(b, c.HalfID)
		b = binary.AppendUvarint(b, c.Gen)
		return append(b, flagByte(c.Commit, false)), nil
	}
	return nil, fmt.Errorf("%w: cannot encode %T", ErrInvalidCommand, c)
}

// txn reads the body of a TxnCheck or TxnEnd.
func (r *decoder) txn(t Type) Command {
	if t == TypeTxnCheck {
		c := &TxnCheck{}
		r.header(&c.Header)
		c.Max = r.int()
		c.MaxBytes = r.int()
		return c
	}
	c := &TxnEnd{}
	r.header(&c.Header)
	c.HalfID = r.uvarint()
	c.Gen = r.uvarint()
	c.Commit, _ = r.flags(false)
	return c
}
