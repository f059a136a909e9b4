package keys

// Progress holds the progress of a running job without a session (a
// session job keeps its own in its record, field prog):
//
//	sq:prog:{J}      string the job's last progress (JSON), expiring with it
func Progress(j string) string { return Prefix + "prog:{" + j + "}" }

// SessionEvents is the stream of job events of session s (started,
// retrying, ended), written by the ledger's scripts, capped and expiring a
// day after its last event:
//
//	sq:{S}:ev        stream type, job, state, seq
func SessionEvents(s string) string { return Tag(s) + "ev" }
