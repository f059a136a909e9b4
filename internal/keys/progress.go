package keys

// Progress holds the progress of a running job without a session (a
// session job keeps its own in its record, field prog):
//
//	sq:prog:{J}      string the job's last progress (JSON), expiring with it
func Progress(j string) string { return Prefix + "prog:{" + j + "}" }

// SessionEvents is the stream of job events of session s (started,
// retrying, ended), written by the ledger's scripts while the stream
// exists (the gateway creates it for a client that follows the session),
// capped at about 100 events, expiring 10 minutes after its last event or
// follow (FollowTTL):
//
//	sq:{S}:ev        stream type, job, state, seq
func SessionEvents(s string) string { return Tag(s) + "ev" }

// FollowTTL is how long a session's event stream lives after its last event
// or its last follower's look (lib.lua emit, gateway followSession).
const FollowTTL = 10 * 60 * 1000 // ms
