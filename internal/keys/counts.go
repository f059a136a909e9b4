package keys

// QueueCounts is the hash of the jobs of queue q that ended on day (UTC,
// "2006-01-02"), by state: fields succeeded, failed, cancelled (package
// ledger, QueueCounts). Its hash tag is the queue's, as in asynq's own
// keys of the queue ("asynq:{q}:..."): one slot holds a queue's counters,
// ours and asynq's.
func QueueCounts(q, day string) string { return Prefix + "qc:{" + q + "}:" + day }
