package sessiontable

import (
	_ "embed"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/reply"
)

// The scripts, one file each under lua/, each opening with its contract.
// Scripts on a session's own keys get the ledger's Lua library prepended
// (ledger.LuaLib: now_ms, touch, and for the write-back of a job fenced,
// commit and backlog), so that every one of them refreshes the idle timer
// the way the ledger's submit.lua does, and none names a ledger field.
var (
	libLua = ledger.LuaLib
	//go:embed lua/create.lua
	createLua string
	//go:embed lua/read.lua
	readLua string
	//go:embed lua/write.lua
	writeLua string
	//go:embed lua/end.lua
	endLua string
	//go:embed lua/bury.lua
	buryLua string
	//go:embed lua/tid.lua
	tidLua string
	//go:embed lua/reserve.lua
	reserveLua string
	//go:embed lua/enroll.lua
	enrollLua string
	//go:embed lua/due.lua
	dueLua string
	//go:embed lua/hot.lua
	hotLua string
	//go:embed lua/files.lua
	filesLua string

	createScript  = redis.NewScript(libLua + createLua)
	readScript    = redis.NewScript(libLua + readLua)
	writeScript   = redis.NewScript(libLua + writeLua)
	endScript     = redis.NewScript(libLua + endLua)
	buryScript    = redis.NewScript(buryLua)
	tidScript     = redis.NewScript(tidLua)
	reserveScript = redis.NewScript(reserveLua)
	enrollScript  = redis.NewScript(enrollLua)
	dueScript     = redis.NewScript(dueLua)
	hotScript     = redis.NewScript(hotLua)
	filesScript   = redis.NewScript(filesLua)
)

// verdict is the first word of a script's reply.
type verdict string

// Verdicts of the scripts, as their contracts list them.
const (
	verdictOK     verdict = "ok"      // create, reserve, tid, write: done
	verdictGone   verdict = "gone"    // write: no session
	verdictStale  verdict = "stale"   // write: the job's fencing token is not current
	verdictLimit  verdict = "limit"   // write: a limit refused the change
	verdictBuried verdict = "buried"  // create: its TID was taken over meanwhile
	verdictLate   verdict = "late"    // create: past the creation grace
	verdictLive   verdict = "live"    // bury: a live session holds the TID; end: the session lives on
	verdictPend   verdict = "pending" // bury: the session is being created
	verdictDead   verdict = "dead"    // bury: the session is dead for good
)

// word reads a script's verdict.
func word(v any) verdict { return verdict(str(v)) }

// str and num read script replies.
var (
	str = reply.Str
	num = reply.Num
)

// pairs turns a flat {k, v, ...} reply into a map.
func pairs(v any) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[str(l[i])] = str(l[i+1])
	}
	return m
}
