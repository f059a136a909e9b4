package keys

// Progress holds the progress of a running job without a session (a
// session job keeps its own in its record, field prog):
//
//	sq:prog:{J}      string the job's last progress (JSON), expiring with it
func Progress(j string) string { return Prefix + "prog:{" + j + "}" }
