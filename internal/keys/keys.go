// Package keys builds every Redis key sessionq uses. It is the one place that
// knows the layout, so that every key of one session shares one hash tag and
// every multi-key Lua script touches a single Redis Cluster slot.
//
// Layout (S is a session ID, J a job ID):
//
//	sq:{S}:run       hash   run state of S: seq, fence, and the lease fields
//	                        job, tok, until (server ms), wid; kept 7 days idle
//	sq:{S}:pend      list   job IDs of S not yet finished, in submission order
//	sq:{S}:j:J       hash   job record of a session job (ledger.Record)
//	sq:ji:{J}        string index: job ID -> session ID, for lookup by ID
//	sq:idk:{J}       hash   idempotency binding of job J (an ID derived from
//	                        an owner and a key): kind (plain or session),
//	                        sess, queue, type of the key's first submit; in
//	                        J's slot, beside sq:ji:{J}, which the binding
//	                        script reads in the same call (package jobs only)
//	sq:dead          zset   dead-lettered session jobs (score: ms), best effort
//	sq:leader:NAME   string leadership lease of a singleton (value: holder)
//	sq:{S}:sess      hash   session record (package sessiontable)
//	sq:{S}:...       other session table keys (package sessiontable)
//
// The ledger's keys (run, pend, j:, ji:, dead, and the repair index) are
// built here but used by package ledger alone: every other package reads
// and writes them through its API (a test in internal/ledger fails
// otherwise), and its scripts' fields are named in internal/ledger only.
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

// Idempotency is the binding of the idempotency key whose job ID is j: what
// its first submit asked for. It shares j's hash tag with JobIndex, so that
// one script reads both. Only package jobs reads or writes it.
func Idempotency(j string) string { return Prefix + "idk:{" + j + "}" }

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

// Session table keys (package sessiontable). Per session, under its tag:
//
//	sq:{S}:sess      hash   the record (above); its TTL is the session's life
//	sq:{S}:p         hash   the session's parameters (absent when none)
//	sq:{S}:apps      set    application IDs of its sub-sessions with parameters
//	sq:{S}:a:A       hash   the parameters of sub-session A
//	sq:{S}:f         hash   the session's files, name -> content (Redis storage)
//	sq:{S}:x         string marker, for a minute: "pending" while a creation
//	                        with a TID is in flight, "dead" once the session
//	                        ended or lost its TID before it had a record
//
// None of these has a TTL: every read and write checks the record first, and
// the expiry sweep deletes them once the record is gone. Cross-slot:
//
//	sq:tid:{U/T}     string TID binding: the ID of the session of owner U
//	                        bound to TID T (TIDs are per owner)
//	sq:own:{U}       zset   open sessions of owner U (score: created, ms)
//	sq:sessions      zset   every session as "S|U|T" (score: when the sweep
//	                        looks at it next, never later than its expiry)
//	sq:events        stream session events (closed, expired), capped
//	sq:hot           hash   hot sessions: S -> "ms backlog" of the last warning

// SessionParams holds the parameters of session s.
func SessionParams(s string) string { return Tag(s) + "p" }

// SessionApps is the set of application IDs of the sub-sessions of s.
func SessionApps(s string) string { return Tag(s) + "apps" }

// SessionAppPrefix is the prefix of the sub-session parameter hashes of s;
// Lua scripts append the application ID to it.
func SessionAppPrefix(s string) string { return Tag(s) + "a:" }

// SessionAppParams holds the parameters of sub-session app of s.
func SessionAppParams(s, app string) string { return SessionAppPrefix(s) + app }

// SessionFiles holds the files of session s in Redis storage.
func SessionFiles(s string) string { return Tag(s) + "f" }

// SessionMarker marks session s as being created, or as ended for good.
func SessionMarker(s string) string { return Tag(s) + "x" }

// TID binds terminal ID t of owner u to a session: each owner has a TID
// namespace of its own. Owners and TIDs never contain '{', '}' or '/'.
func TID(u, t string) string { return Prefix + "tid:{" + u + "/" + t + "}" }

// Owner indexes the open sessions of owner u. Owners never contain '{' or '}'.
func Owner(u string) string { return Prefix + "own:{" + u + "}" }

// Sessions indexes every session for the expiry sweep.
const Sessions = Prefix + "sessions"

// Events is the stream of session events.
const Events = Prefix + "events"

// Hot records the hot sessions seen lately.
const Hot = Prefix + "hot"
