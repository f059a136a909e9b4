package keys

// Handlers is the sorted set of the worker processes that handle job type
// t (package presence): member a process ID, score the Redis server time,
// in ms, until which the entry is live. Job types never contain '{' or
// '}' (jobs.ValidateType), so the key has no hash tag: each type's set is
// one key in one slot.
func Handlers(t string) string { return Prefix + "handlers:" + t }
