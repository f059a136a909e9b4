package jobs

// IDForIdempotencyKey is the ID that Submit gives a job submitted with
// IdempotencyKey(key): the same key always names the same job.
func IDForIdempotencyKey(key string) string { return newID(key) }
