package dashboard

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// connOpt hands asynqmon the caller's Redis client instead of a second pool.
type connOpt struct{ rdb redis.UniversalClient }

func (o connOpt) MakeRedisClient() any { return o.rdb }

var _ asynq.RedisConnOpt = connOpt{}

// NewQueues returns asynqmon, asynq's own web UI, for rdb, to be mounted at
// prefix+"/queues/" (Config.Queues). Payloads and results are shown as text
// when they are UTF-8 (session jobs' carriers are small JSON, see package
// dispatch), else as their length. It is read-only: sessionq's own pages
// requeue jobs, and a session job's carrier must not be deleted or run by
// hand behind the ledger's back. asynqmon's built UI configures itself with
// an inline script, so it gets a policy of its own that allows inline
// script but no other origin (its Google Fonts links are refused).
func NewQueues(rdb redis.UniversalClient, prefix string) http.Handler {
	return asynqmon.New(asynqmon.Options{
		RootPath:         prefix + "/queues",
		RedisConnOpt:     connOpt{rdb},
		ReadOnly:         true,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, b []byte) string { return printable(b) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, b []byte) string { return printable(b) }),
	})
}

func printable(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if utf8.Valid(b) {
		return string(b)
	}
	out, _ := json.Marshal(map[string]int{"binary_bytes": len(b)})
	return string(out)
}
