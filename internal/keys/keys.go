// Package keys builds every Redis key sessionq uses. It is the one place that
// knows the layout, so that every key of one session shares one hash tag and
// every multi-key Lua script touches a single Redis Cluster slot.
//
// Layout (S is a session ID, J a job ID):
//
//	sq:{S}:run       hash   run state of S: seq, fence, and the lease fields
//	                        job, tok, until (server ms), wid; kept 7 days idle
//	sq:{S}:pend      list   job IDs of S not yet finished, in submission order
//	sq:{S}:j:J       hash   job record of a session job (see jobs.Record)
//	sq:ji:{J}        string index: job ID -> session ID, for lookup by ID
//	sq:dead          zset   dead-lettered session jobs (score: ms), best effort
//	sq:leader:NAME   string leadership lease of a singleton (value: holder)
//	sq:{S}:sess      hash   session record (package sessiontable)
//	sq:{S}:...       other session table keys (package sessiontable)
//
// Session IDs never contain '{' or '}' (jobs.ValidateSessionID), so the tag
// is exactly the session ID.
package keys

// Prefix starts every key sessionq writes. asynq's own keys start with
// "asynq:" and are not built here.
const Prefix = "sq:"

// Tag returns the hash-tagged prefix of every key of session s.
func Tag(s string) string { return Prefix + "{" + s + "}:" }

// Run is the hash with the session's sequence counter, fencing counter and
// lease (the lock).
func Run(s string) string { return Tag(s) + "run" }

// Pending is the list of unfinished job IDs of the session in submission order.
func Pending(s string) string { return Tag(s) + "pend" }

// Job is the record of job j of session s.
func Job(s, j string) string { return Tag(s) + "j:" + j }

// JobPrefix is the prefix of every job record key of session s; Lua scripts
// append the job ID to it.
func JobPrefix(s string) string { return Tag(s) + "j:" }

// JobIndex maps a job ID to its session ID.
func JobIndex(j string) string { return Prefix + "ji:{" + j + "}" }

// Dead is the dead-letter index of session jobs.
const Dead = Prefix + "dead"

// PendingPattern matches every session's pending list, for SCAN.
const PendingPattern = Prefix + "{*}:pend"

// SessionFromPending extracts the session ID from a key built by Pending, and
// reports whether k had that shape.
func SessionFromPending(k string) (string, bool) {
	const head, tail = Prefix + "{", "}:pend"
	if len(k) < len(head)+len(tail) || k[:len(head)] != head || k[len(k)-len(tail):] != tail {
		return "", false
	}
	return k[len(head) : len(k)-len(tail)], true
}

// Session is the session table record of s: a hash whose TTL is the
// session's life. Fields the ledger relies on: idle (idle timeout, ms; 0
// none), dl (absolute deadline, ms since epoch; 0 none), la (last access,
// ms). A job of s is active exactly when this key exists.
func Session(s string) string { return Tag(s) + "sess" }

// Leader is the leadership lease of the singleton called name.
func Leader(name string) string { return Prefix + "leader:" + name }
