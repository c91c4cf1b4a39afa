// Package fsm is the deterministic state machine of one queue partition, the
// binary encoding of its commands, and its adapter to hashicorp/raft.
//
// # What it owns
//
// State holds one partition: the message log (dense offsets from 0, each
// message with its produce time), and per consumer group two lanes, the
// normal lane over the message log and the dead-letter lane over the group's
// own dead-letter log (dense sequence numbers from 0). A lane is a cursor: an
// ack floor, the next offset never delivered, the live leases (offset →
// delivery id, expiry), the offsets ready for redelivery, the done offsets
// above the floor, and per offset its delivery and failure counts, first
// delivery time and latest delivery id.
//
// Commands (api.go, redrive.go, txn.go): Enqueue, Lease, Ack, Tick, Forget,
// Redrive, Extend, TxnCheck, TxnEnd. Encode and Decode
// give each one a log entry of one type byte, one version byte and a compact
// binary body (see Encode). State.Apply applies a command at a Raft index;
// FSM does the same for raft.Log entries. WriteTo and ReadFrom write and read
// a canonical snapshot (version 4, metadata only, for a detached state; a
// body section may follow it, see snapbodies.go). Read-only queries (Stats,
// HasReady, NextExpiry, EarliestExpiry, Produced, Offsets, Groups, Now,
// Index, Digest) serve the HTTP layer, long polls and the leader's expiry
// ticker.
//
// # Semantics in brief
//
//   - Time: every command carries the leader's clock (Header.Now, unix ms).
//     The state's clock is the largest Now applied, so it never goes back.
//     Every command first does housekeeping at that clock (expired leases are
//     settled, messages older than Policy.RetentionMs and dead letters older
//     than DeadLetterRetentionMs are trimmed) and then its own work.
//   - Acked retention (Policy.AckedRetention): housekeeping also moves the
//     log's base up to the lowest normal-lane floor over the groups (every
//     message below it is done for every group: acked, dead-lettered or
//     filtered out), and drops each group's dead letters below its
//     dead-letter lane's floor. Nothing a group may still deliver is below
//     its floor (leased, ready, delayed, never reached); half messages are
//     not in the log. With no group, only retention trims. A group created
//     later starts at the base, as any new group does.
//   - Groups are created on their first Lease or Ack, at the oldest retained
//     message. Forget deletes one with its dead letters.
//   - Lease: a NORMAL queue gives redeliveries first (lowest offset first),
//     then new messages in offset order. A FIFO queue walks from the floor:
//     done offsets are skipped, the first live lease stops the walk, ready
//     and new offsets are taken, several consecutive ones per lease. The
//     dead-letter lane always uses the NORMAL order, so that one poison dead
//     letter cannot block the others. A lease stops at Max, or at the first
//     message that would overrun MaxBytes. A delivery's id is the Raft index
//     of its Lease.
//   - RocketMQ additions (Enqueue and Lease version 2): a message may carry
//     a Tag, a sharding Key, a DeliverAt time and opaque Props. In the normal
//     lane a Lease with Tags settles, without delivering, every message whose
//     tag is not in the set (it counts as consumed for the group); a new
//     message not due yet is set aside (delayed) and made ready by the
//     housekeeping of the first command applied at or after its DeliverAt,
//     so the delay survives failover and snapshots; an Ordered Lease delivers
//     a message only when every earlier message with its Key is settled. One
//     Lease passes over at most maxLeaseSkips messages.
//   - Transactional messages (txn.go; Enqueue version 3 with HalfCheckMs,
//     TxnCheck, TxnEnd): half messages are kept beside the log, seen by no
//     lane or counter, until TxnEnd commits one (appended to the log then)
//     or rolls it back; TxnCheck hands out those whose check time passed,
//     each with a new generation, and only the newest generation ends one.
//   - Idempotent produce (dedup.go; Enqueue version 3 with DedupIDs): an id
//     stored less than DedupWindowMs before is not stored again; the table
//     is bounded by the window and MaxDedupIDs.
//   - Ack is ordered: items that successfully ack a live delivery settle it;
//     the first other item stops the walk (the reason says why), and from
//     there every item naming a live delivery of the group and lane is
//     released as a failed consumption.
//   - Extend gives live deliveries a new lease end (the command's clock plus
//     each item's AckWaitMs) and keeps their delivery ids, so a handler stays
//     valid; an item naming a delivery that is not live fails with the
//     reason an ack would get, and changes nothing.
//   - Redrive moves a group's dead letters that are not leased (oldest
//     first, up to Max) back to its normal lane: the dead letter is done,
//     and the original offset, still retained, becomes a never-delivered
//     ready offset again (the lane's floor moves down to it if needed).
//     Dead letters whose message left the log by retention stay.
//   - StatsAt is Stats with messages not yet due (DeliverAt after the
//     caller's clock) left out of Available; the list it reads is derived
//     from the log, rebuilt on restore, and never written to a snapshot.
//   - A failed consumption (fail ack, release, expiry) makes the message
//     ready again, except in the normal lane when Policy.MaxConsumeCount > 0
//     and the failures reach it: then the message moves to the group's dead
//     letters and is done for the normal lane.
//
// # What it does not do
//
// No networking, no Raft configuration or leadership, no HTTP or JSON, no
// clock, no validation of API limits (httpapi checks Max, sizes and ack waits
// before proposing; the state accepts any value without failing), no
// handler tokens (the HTTP layer mints and checks them; the state only checks
// that a delivery is still live), no disk I/O of its own: a state made by
// NewState keeps message bodies in memory; one made by NewDetachedState (an
// FSM from NewDetachedFSM) keeps metadata only, and the FSM writes the
// bodies to a BodyStore keyed by offset and reads them back for deliveries
// (FillBodies). The replicated state is the same either way but for the
// bodies: it never says where a body is.
//
// # Invariants
//
//   - Determinism: the state, every result and the snapshot bytes follow from
//     the sequence of (index, command) applied and nothing else. No map
//     iteration order is observable: groups are kept in a sorted slice, lease
//     expiries settle in (expiry, offset) order, snapshots are canonical. The
//     replay test checks this against restore and batching.
//   - In each lane, every offset below the floor is done, and every offset in
//     [floor, next) is exactly one of in flight, ready, done; the floor is
//     never a done offset. Memory is bounded by the retained messages: done
//     offsets below the floor cost nothing, and the done set shrinks as the
//     floor advances.
//   - Offsets only grow: trimming moves the log's base forward, and cursors
//     behind it jump to it.
//   - Only corruption panics: Decode and ReadFrom reject malformed input with
//     errors; FSM.Apply panics on an entry it cannot decode, since the
//     replica would otherwise diverge.
//
// # Concurrency
//
// State is not safe for concurrent use. FSM serialises Apply, ApplyBatch and
// Restore with an RWMutex (a detached state's Snapshot holds the read lock
// only to take a view of the state; Persist serialises it while Apply runs); Read runs a function under the read lock, and
// Changed returns a channel closed (then replaced) when messages may have
// become ready, so long polls can wait without polling.
package fsm
