package keys

import (
	"hash/fnv"
	"strconv"
)

// The repair index: sessions with unfinished work, each with the time the
// reconciler should look at it next (a sorted set member S, score ms). It
// is sharded over DueShards keys so that it spreads over a Redis Cluster:
//
//	sq:due:{N}       zset   session S -> when to look at it next (ms), for
//	                        N = DueShard(S) in 0..DueShards-1
//
// The index is a hint kept beside the ledger, not inside its scripts (a
// script may touch one slot only): it is written before the ledger change
// it announces, in the same pipeline, and only the reconciler removes an
// entry, once it has seen the session with nothing left to run.

// DueShards is the number of keys the repair index is sharded over.
const DueShards = 16

// DueShard is the shard of the repair index that holds session s.
func DueShard(s string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return int(h.Sum32() % DueShards)
}

// Due is shard n of the repair index.
func Due(n int) string { return Prefix + "due:{" + strconv.Itoa(n) + "}" }

// DueOf is the shard of the repair index that holds session s.
func DueOf(s string) string { return Due(DueShard(s)) }

// QueueEvents is the Pub/Sub channel on which a queue's pause or resume is
// announced (the queue's name), so that workers see it at once; they look
// at asynq's pause markers now and then as well.
const QueueEvents = Prefix + "queue-events"
