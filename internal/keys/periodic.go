package keys

// Periodic is the fire record of the periodic job called name (package
// scheduler), a hash:
//
//	sq:periodic:NAME  hash  last (the last tick handled, ms since epoch),
//	                        job (ID of the job of the last fire), fired (ms,
//	                        when it was submitted)
//
// Periodic names never contain '{' or '}'.
func Periodic(name string) string { return Prefix + "periodic:" + name }
