package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/users"
)

// The isolation matrix (issue 16, item 6): every operation of the served
// OpenAPI document, sent by users of every right against a session and
// jobs owned by alice, in every way a request can name her session, with
// the exact answer each must get. Without rights over her data, her
// session and jobs do not exist (404, never 403: no oracle); read:all
// reads her jobs but uses no session it did not open; admin does
// everything. A row that is expected to succeed aims at spare data of hers
// (a scratch parameter, a spare session or job), so that after the walk
// her session, parameters, files and jobs must read back exactly as
// before.
//
// A new operation cannot ship without its row: the test fails naming any
// operation of the document the matrix lacks. Rows for operations the
// document lacks (yet) are skipped. Session operations (/v1/sessions/{id})
// take their session from the path, so they are walked by path and
// sub-session; header, cookie and query naming hers besides a path of the
// caller's own are rows of their own.

// naming is a way a request names alice's session.
type naming string

const (
	byPath   naming = "path"   // the path names her session (/v1/sessions/{id}) or her job (/v1/jobs/{id}); no session carried
	byHeader naming = "header" // header Sessionq-Session
	byCookie naming = "cookie" // cookie sessionq_session
	byQuery  naming = "query"  // query parameter sessionId
	byApp    naming = "app"    // her session and its application sub-session
	byTID    naming = "tid"    // her TID, in an establish body
	byOpened naming = "opened" // the session the caller opened for her (impersonate)
	byNone   naming = "none"   // nothing of hers named: a list, a submit of one's own, a public operation
)

// carried: the ways a request carries a session besides its path.
var carried = []naming{byHeader, byCookie, byQuery, byApp}

// Alice's data.
const (
	aliceTID        = "alice-term-1"
	aliceApp        = "app1"
	alicePlainKey   = "alice-plain-key"
	aliceSessionKey = "alice-session-key"
	aliceFile       = "f.txt"
)

// exp is an expected answer: a status and, for an error, its code.
type exp struct {
	status int
	code   string
}

func (x exp) String() string {
	if x.code == "" {
		return fmt.Sprint(x.status)
	}
	return fmt.Sprintf("%d %s", x.status, x.code)
}

var (
	skip      = exp{} // the row does not apply to this caller
	noSession = exp{http.StatusNotFound, gateway.CodeSessionNotFound}
	noJob     = exp{http.StatusNotFound, gateway.CodeJobNotFound}
	forbidden = exp{http.StatusForbidden, gateway.CodeForbidden}
)

func ok(status int) exp { return exp{status: status} }

// wants are the expected answers by attacker name; "*" for the others.
type wants map[string]exp

func (w wants) of(name string) exp {
	if x, found := w[name]; found {
		return x
	}
	return w["*"]
}

// Attackers: one user per right set, none of them alice.
var attackerRights = []struct {
	name   string
	rights []string
}{
	{"none", nil},
	{"read-own", []string{users.ReadOwn}},
	{"write-own", []string{users.WriteOwn}},
	{"submit-other", []string{"submit:other/*"}},
	{"read-all", []string{users.ReadAll}},
	{"write-all", []string{users.WriteAll}},
	{"impersonate", []string{users.Impersonate}},
	{"admin", []string{users.Admin}},
}

// Common expectations.
var (
	everyone  = func(status int) wants { return wants{"*": ok(status)} }
	adminOnly = func(status int) wants { return wants{"admin": ok(status), "*": noSession} }
	readers   = func(status int) wants { return wants{"read-all": ok(status), "admin": ok(status), "*": noJob} }
	// The jobs a reader of everything sees but may not change.
	writers = wants{"read-all": forbidden, "admin": ok(200), "*": noJob}
	// Only who may act as alice opens a session for her.
	openers = func(status int) wants { return wants{"impersonate": ok(status), "admin": ok(status), "*": forbidden} }
)

type attacker struct {
	name string
	tok  string
}

// readsAll: the attacker sees every user's data in lists.
func (a *attacker) readsAll() bool { return a.name == "read-all" || a.name == "admin" }

// victim is alice and what she owns.
type victim struct {
	e   *env
	tok string
	// sess is her session: TID aliceTID, parameter k=v, sub-session
	// aliceApp with parameter ak=av, file aliceFile.
	sess string
	// Her jobs: a plain one (key alicePlainKey), one in sess (key
	// aliceSessionKey), a dead-lettered one, and one waiting (due in an
	// hour).
	plain, inSession, dead, waiting string
	opened                          map[string]string // attacker → session it opened for her
	own                             map[string]string // attacker → a session of its own
}

// call is one request of a row.
type call struct {
	method, path string
	body         any
	hdr          []string
	anon         bool   // send no token
	tok          string // send this token instead of the attacker's
}

// try is one cell of the matrix: a row, sent by an attacker, naming
// alice's session one way.
type try struct {
	f  *victim
	a  *attacker
	by naming
	ok bool // a 2xx answer is expected: aim at spare data
}

// sess is the session the row names in its path.
func (x *try) sess() string {
	if x.by == byOpened {
		return x.f.opened[x.a.name]
	}
	return x.f.sess
}

func (x *try) sessPath(suffix string) string { return "/v1/sessions/" + x.sess() + suffix }

// key is one of alice's parameters: the sub-session's when the row names it.
func (x *try) key() string {
	if x.by == byApp {
		return "ak"
	}
	return "k"
}

// scratch is the parameter a successful write sets and later deletes.
func (x *try) scratch() string { return "x-" + x.a.name + "-" + string(x.by) }

// param is what a write aims at: her parameter, or a scratch one.
func (x *try) param() string {
	if x.ok {
		return x.scratch()
	}
	return x.key()
}

func (x *try) file() string {
	if x.ok {
		return x.scratch() + ".txt"
	}
	return aliceFile
}

func (x *try) closable() string {
	if x.ok {
		return x.f.spareSession()
	}
	return x.sess()
}

func (x *try) cancellable() string {
	if x.ok {
		return x.f.spareJob()
	}
	return x.f.waiting
}

func (x *try) deadJob() string {
	if x.ok {
		return x.f.spareDead()
	}
	return x.f.dead
}

// queue is a queue the attacker may submit to, if any.
func (x *try) queue() string {
	if x.a.name == "submit-other" {
		return "other"
	}
	return "default"
}

// row is one line of the matrix: an operation, what its request tries,
// the namings it is sent with, and the answer each attacker must get.
type row struct {
	op   string // operation ID of the served OpenAPI document
	what string
	by   []naming
	want wants
	req  func(x *try) call
	// check, when set, looks at a 2xx answer: what is wrong, "" for nothing.
	check func(x *try, r *resp) string
}

func get(path string) call     { return call{method: http.MethodGet, path: path} }
func del(path string) call     { return call{method: http.MethodDelete, path: path} }
func put(p string, b any) call { return call{method: http.MethodPut, path: p, body: b} }
func post(p string, b any) call {
	return call{method: http.MethodPost, path: p, body: b}
}

// matrix is the isolation matrix, in the order it is walked: each row for
// every attacker and naming before the next row.
func matrix() []row {
	shows := func(id func(x *try) string) func(x *try, r *resp) string {
		return func(x *try, r *resp) string {
			if got := strings.Contains(string(r.body), id(x)); got != x.a.readsAll() {
				return fmt.Sprintf("shows alice's %s: %t, want %t", id(x), got, x.a.readsAll())
			}
			return ""
		}
	}
	showsSess := shows(func(x *try) string { return x.f.sess })
	isJob := func(id func(x *try) string) func(x *try, r *resp) string {
		return func(x *try, r *resp) string {
			if got, _ := jsonField(r, "id"); got != id(x) {
				return fmt.Sprintf("answers job %q, want %q", got, id(x))
			}
			return ""
		}
	}
	newJob := func(id func(x *try) string) func(x *try, r *resp) string {
		return func(x *try, r *resp) string {
			got, _ := jsonField(r, "id")
			existing, _ := jsonField(r, "existing")
			if got == id(x) || existing != "false" {
				return fmt.Sprintf("answers job %q (existing %s): want a new job of its own, not alice's %s", got, existing, id(x))
			}
			return ""
		}
	}
	sessionOps := []row{
		{op: "getSession", what: "read her session", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("")) }},
		{op: "getParams", what: "read her parameters", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("/params")) }},
		{op: "getParam", what: "read her parameter", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("/params/" + x.key())) }},
		{op: "putParams", what: "set her parameters", want: adminOnly(204),
			req: func(x *try) call {
				return put(x.sessPath("/params"), map[string]any{"params": map[string]string{x.param(): "by " + x.a.name}})
			}},
		{op: "putParam", what: "set her parameter", want: adminOnly(204),
			req: func(x *try) call {
				return put(x.sessPath("/params/"+x.param()), map[string]any{"value": "by " + x.a.name})
			}},
		{op: "deleteParam", what: "delete her parameter", want: adminOnly(204),
			req: func(x *try) call { return del(x.sessPath("/params/" + x.param())) }},
		{op: "listFiles", what: "list her files", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("/files")) }},
		{op: "getFile", what: "read her file", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("/files/" + aliceFile)) }},
		{op: "putFile", what: "write her file", want: adminOnly(204),
			req: func(x *try) call { return put(x.sessPath("/files/"+x.file()), []byte("by "+x.a.name)) }},
		{op: "deleteFile", what: "delete her file", want: adminOnly(204),
			req: func(x *try) call { return del(x.sessPath("/files/" + x.file())) }},
		{op: "sessionEvents", what: "follow her session", want: adminOnly(200),
			req: func(x *try) call { return get(x.sessPath("/events")) }},
	}
	for i := range sessionOps {
		sessionOps[i].by = []naming{byPath, byApp}
	}

	rows := []row{
		// Public operations ignore any session named.
		{op: "healthz", what: "liveness", by: []naming{byNone, byHeader, byCookie, byQuery}, want: everyone(200),
			req: func(*try) call { return get("/healthz") }},
		{op: "readyz", what: "readiness", by: []naming{byNone, byHeader, byCookie, byQuery}, want: everyone(200),
			req: func(*try) call { return get("/readyz") }},
		{op: "login", what: "log in as itself", by: []naming{byHeader}, want: everyone(200),
			req: func(x *try) call {
				c := post("/v1/login", map[string]any{"user": x.a.name, "password": "pw-" + x.a.name})
				c.anon = true
				return c
			}},

		// Lists show her data to who reads all only; naming her session
		// is naming a session that does not exist.
		{op: "listSessions", what: "list sessions", by: []naming{byNone}, want: everyone(200), check: showsSess,
			req: func(*try) call { return get("/v1/sessions") }},
		{op: "listSessions", what: "list sessions in her session", by: carried, want: adminOnly(200),
			req: func(*try) call { return get("/v1/sessions") }},
		{op: "listDead", what: "list dead letters", by: []naming{byNone}, want: everyone(200),
			check: shows(func(x *try) string { return x.f.dead }),
			req:   func(*try) call { return get("/v1/dead") }},
		{op: "listDead", what: "list dead letters in her session", by: carried, want: adminOnly(200),
			req: func(*try) call { return get("/v1/dead") }},
	}
	rows = append(rows, sessionOps...)
	// A path /v1/sessions/{id} names its session whatever else the request
	// carries: naming hers besides one's own reaches one's own.
	rows = append(rows, []row{
		{op: "getParams", what: "read its own session's parameters, naming hers besides", by: []naming{byHeader, byCookie, byQuery},
			want: wants{"read-own": ok(200), "read-all": ok(200), "admin": ok(200), "*": noSession},
			check: func(_ *try, r *resp) string {
				if got := strings.Join(strings.Fields(string(r.body)), ""); got != `{"params":{}}` {
					return "answers parameters it did not set: " + got
				}
				return ""
			},
			req: func(x *try) call { return get("/v1/sessions/" + x.f.ownSession(x.a) + "/params") }},
		{op: "putParam", what: "set its own session's parameter, naming hers besides", by: []naming{byHeader, byCookie, byQuery},
			want: wants{"write-own": ok(204), "write-all": ok(204), "admin": ok(204), "*": forbidden},
			req: func(x *try) call {
				return put("/v1/sessions/"+x.f.ownSession(x.a)+"/params/k", map[string]any{"value": "by " + x.a.name})
			}},
	}...)
	rows = append(rows, []row{
		// Her jobs, by their IDs: read:all reads them, and no more.
		{op: "getJob", what: "read her plain job", by: []naming{byPath}, want: readers(200),
			check: isJob(func(x *try) string { return x.f.plain }),
			req:   func(x *try) call { return get("/v1/jobs/" + x.f.plain) }},
		{op: "getJob", what: "read her session job", by: []naming{byPath}, want: readers(200),
			check: isJob(func(x *try) string { return x.f.inSession }),
			req:   func(x *try) call { return get("/v1/jobs/" + x.f.inSession) }},
		{op: "getJob", what: "read her dead-lettered job", by: []naming{byPath}, want: readers(200),
			check: isJob(func(x *try) string { return x.f.dead }),
			req:   func(x *try) call { return get("/v1/jobs/" + x.f.dead) }},
		{op: "getJob", what: "read her session job in her session", by: carried, want: adminOnly(200),
			req: func(x *try) call { return get("/v1/jobs/" + x.f.inSession) }},
		{op: "jobEvents", what: "follow her session job", by: []naming{byPath}, want: readers(200),
			req: func(x *try) call { return get("/v1/jobs/" + x.f.inSession + "/events") }},
		{op: "jobEvents", what: "follow her session job in her session", by: carried, want: adminOnly(200),
			req: func(x *try) call { return get("/v1/jobs/" + x.f.inSession + "/events") }},
		{op: "cancelJob", what: "cancel her waiting job", by: []naming{byPath}, want: writers,
			req: func(x *try) call { return del("/v1/jobs/" + x.cancellable()) }},
		{op: "cancelJob", what: "cancel her waiting job in her session", by: carried, want: adminOnly(200),
			req: func(x *try) call { return del("/v1/jobs/" + x.cancellable()) }},
		{op: "requeueDead", what: "requeue her dead-lettered job", by: []naming{byPath}, want: writers,
			req: func(x *try) call { return post("/v1/dead/"+x.deadJob()+"/requeue", nil) }},
		{op: "requeueDead", what: "requeue her dead-lettered job in her session", by: carried, want: adminOnly(200),
			req: func(x *try) call { return post("/v1/dead/"+x.deadJob()+"/requeue", nil) }},

		// Her TID: another user's TID neither answers nor collides (TIDs
		// are per owner, issue 16 item 1: admin too looks in its own
		// namespace unless it names her). The finds come before the binds.
		{op: "establishSession", what: "find her session by her TID", by: []naming{byTID}, want: wants{"*": noSession},
			req: func(*try) call {
				return post("/v1/sessions", map[string]any{"createSession": false, "TID": aliceTID})
			}},
		{op: "establishSession", what: "find her session by her TID, naming her", by: []naming{byTID},
			want: wants{"impersonate": noSession, "admin": ok(200), "*": forbidden},
			check: func(x *try, r *resp) string {
				if got, _ := jsonField(r, "sessionId"); got != x.f.sess {
					return fmt.Sprintf("found session %q, want hers %q", got, x.f.sess)
				}
				return ""
			},
			req: func(*try) call {
				return post("/v1/sessions", map[string]any{"createSession": false, "TID": aliceTID, "user": "alice"})
			}},
		{op: "establishSession", what: "bind her TID in its own namespace", by: []naming{byTID}, want: everyone(201),
			check: func(x *try, r *resp) string {
				if got, _ := jsonField(r, "sessionId"); got == x.f.sess {
					return "answers her session"
				}
				return ""
			},
			req: func(*try) call {
				return post("/v1/sessions", map[string]any{"createSession": true, "TID": aliceTID})
			}},
		// impersonate opens a new session for her, and uses that one.
		{op: "establishSession", what: "open a new session for her", by: []naming{byNone}, want: openers(201),
			check: func(x *try, r *resp) string {
				m, err := r.jsonMap()
				if err != nil {
					return err.Error()
				}
				s, _ := m["session"].(map[string]any)
				if s["owner"] != "alice" {
					return fmt.Sprintf("opened a session owned by %v", s["owner"])
				}
				x.f.opened[x.a.name], _ = m["sessionId"].(string)
				return ""
			},
			req: func(*try) call {
				return post("/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
			}},
		{op: "putParam", what: "set a parameter of the session it opened for her", by: []naming{byOpened},
			want: wants{"impersonate": ok(204), "admin": ok(204), "*": skip},
			req: func(x *try) call {
				return put(x.sessPath("/params/"+x.param()), map[string]any{"value": "by " + x.a.name})
			}},
		{op: "getParams", what: "read the session it opened for her (reads are the caller's)", by: []naming{byOpened},
			want: wants{"impersonate": noSession, "admin": ok(200), "*": skip},
			req:  func(x *try) call { return get(x.sessPath("/params")) }},
		{op: "submitJob", what: "submit in the session it opened for her (her rights)", by: []naming{byOpened},
			want: wants{"impersonate": ok(202), "admin": ok(202), "*": skip},
			req:  func(*try) call { return post("/v1/jobs", map[string]any{"type": "echo"}) }},

		// Submits.
		{op: "submitJob", what: "submit in her session", by: carried, want: adminOnly(202),
			check: func(x *try, r *resp) string {
				if got, _ := jsonField(r, "sessionId"); got != x.f.sess {
					return fmt.Sprintf("submitted in session %q, want hers", got)
				}
				return ""
			},
			req: func(*try) call { return post("/v1/jobs", map[string]any{"type": "echo"}) }},
		// Idempotency keys are per owner (issue 16 item 1): hers gives
		// another user a job of their own, and hers stays hers.
		{op: "submitJob", what: "submit a job of its own with her plain job's key", by: []naming{byNone},
			want:  wants{"submit-other": ok(202), "admin": ok(202), "*": forbidden},
			check: newJob(func(x *try) string { return x.f.plain }),
			req: func(x *try) call {
				return post("/v1/jobs", map[string]any{"type": "echo", "queue": x.queue(), "idempotencyKey": alicePlainKey})
			}},
		{op: "submitJob", what: "submit a job of its own with her session job's key", by: []naming{byNone},
			want:  wants{"submit-other": ok(202), "admin": ok(202), "*": forbidden},
			check: newJob(func(x *try) string { return x.f.inSession }),
			req: func(x *try) call {
				return post("/v1/jobs", map[string]any{"type": "echo", "queue": x.queue(), "idempotencyKey": aliceSessionKey})
			}},

		// Last, as it would end everything after it if it got through.
		{op: "closeSession", what: "close her session", by: []naming{byPath, byApp}, want: adminOnly(204),
			req: func(x *try) call { return del("/v1/sessions/" + x.closable()) }},

		// Logout revokes the token it is sent with: a fresh one of the
		// caller's.
		{op: "logout", what: "log out", by: []naming{byNone}, want: everyone(204),
			req: func(x *try) call {
				c := post("/v1/logout", nil)
				c.tok = x.f.e.token(x.a.name)
				return c
			}},
	}...)
	return rows
}

// TestIsolationMatrix walks the matrix, then checks that nothing of
// alice's changed. Every mismatching cell is listed at once.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rows := matrix()

	// Every operation of the document has a row; rows for operations the
	// document lacks are allowed (and skipped).
	doc := documentOps(e.srv.OpenAPI())
	inMatrix := map[string]bool{}
	for _, r := range rows {
		inMatrix[r.op] = true
	}
	for _, id := range sortedKeys(doc) {
		if !inMatrix[id] {
			t.Errorf("operation %s (%s) of the OpenAPI document has no row in the isolation matrix (gateway/isolation_test.go): add one", id, doc[id])
		}
	}

	f := newVictim(e)
	before := f.snapshot()
	var attackers []*attacker
	for _, ar := range attackerRights {
		attackers = append(attackers, &attacker{name: ar.name, tok: e.user(ar.name, ar.rights...)})
	}

	var bad []string
	sent := 0
	for _, rw := range rows {
		if _, found := doc[rw.op]; !found {
			t.Logf("operation %s is not in the OpenAPI document: its row %q is skipped", rw.op, rw.what)
			continue
		}
		for _, by := range rw.by {
			for _, a := range attackers {
				want := rw.want.of(a.name)
				if want == skip {
					continue
				}
				x := &try{f: f, a: a, by: by, ok: want.status/100 == 2}
				if by == byOpened && x.sess() == "" {
					bad = append(bad, cell(doc[rw.op], a, by, rw.what, want, "no session opened for alice to use"))
					continue
				}
				c := rw.req(x)
				carry(&c, x)
				if c.tok == "" && !c.anon {
					c.tok = a.tok
				}
				sent++
				r, op, err := e.send(c)
				if msg := judge(rw, x, want, r, op, err); msg != "" {
					bad = append(bad, cell(doc[rw.op], a, by, rw.what, want, msg))
				}
			}
		}
	}
	bad = append(bad, outside(e, f, attackers)...)

	after := f.snapshot()
	for _, k := range sortedKeys(before) {
		if before[k] != after[k] {
			bad = append(bad, fmt.Sprintf("alice's %s changed: was %s, now %s", k, before[k], after[k]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d answers of %d requests differ from the isolation matrix (operation | attacker | naming | what: want, got):\n%s",
			len(bad), sent, strings.Join(bad, "\n"))
	}
	t.Logf("isolation matrix: %d requests over %d operations and %d attackers", sent, len(doc), len(attackers))
}

// documentOps maps each operation ID of the document to "METHOD path".
func documentOps(oapi *huma.OpenAPI) map[string]string {
	out := map[string]string{}
	for path, pi := range oapi.Paths {
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: pi.Get, http.MethodPut: pi.Put, http.MethodPost: pi.Post, http.MethodDelete: pi.Delete,
			http.MethodPatch: pi.Patch, http.MethodHead: pi.Head, http.MethodOptions: pi.Options, http.MethodTrace: pi.Trace,
		} {
			if op != nil {
				out[op.OperationID] = method + " " + path
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// carry carries alice's session in c the way x names it.
func carry(c *call, x *try) {
	sid := x.sess()
	pathOp := strings.HasPrefix(c.path, "/v1/sessions/")
	addQuery := func(k, v string) {
		sep := "?"
		if strings.Contains(c.path, "?") {
			sep = "&"
		}
		c.path += sep + k + "=" + url.QueryEscape(v)
	}
	switch x.by {
	case byHeader:
		c.hdr = append(c.hdr, gateway.HeaderSession, sid)
	case byCookie:
		c.hdr = append(c.hdr, "Cookie", gateway.CookieSession+"="+sid)
	case byQuery:
		addQuery(gateway.QuerySession, sid)
	case byApp:
		if pathOp {
			addQuery(gateway.QueryApplication, aliceApp)
		} else {
			c.hdr = append(c.hdr, gateway.HeaderSession, sid, gateway.HeaderApplication, aliceApp)
		}
	case byOpened:
		if !pathOp {
			c.hdr = append(c.hdr, gateway.HeaderSession, sid)
		}
	}
}

// send sends c and checks the answer against the OpenAPI document, without
// failing the test: it returns the answer, the operation it reached and
// what is wrong. An event stream is closed once its headers are in.
func (e *env) send(c call) (*resp, string, error) {
	r, err := e.newRequest(c.tok, c.method, c.path, c.body, c.hdr...)
	if err != nil {
		return nil, "", err
	}
	res, err := e.hc.Do(r)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	out := &resp{status: res.StatusCode, hdr: res.Header}
	if res.Header.Get("Content-Type") != "text/event-stream" {
		if out.body, err = io.ReadAll(res.Body); err != nil {
			return nil, "", err
		}
	}
	op, err := e.checkAnswer(r, out)
	if err != nil {
		return out, op, fmt.Errorf("the answer does not fit the OpenAPI document: %w", err)
	}
	return out, op, nil
}

// judge compares an answer with the matrix: "" when it matches.
func judge(rw row, x *try, want exp, r *resp, op string, err error) string {
	if r == nil {
		return fmt.Sprintf("no answer: %v", err)
	}
	got := fmt.Sprint(r.status)
	if code, _ := errorCode(r); code != "" {
		got += " " + code
	}
	var why []string
	switch {
	case r.status != want.status:
		why = append(why, "got "+got)
	case want.code != "" && !strings.HasSuffix(got, " "+want.code):
		why = append(why, "got "+got)
	}
	if op != "" && op != rw.op {
		why = append(why, "reached operation "+op)
	}
	if err != nil {
		why = append(why, err.Error())
	}
	if len(why) == 0 && r.status/100 == 2 && rw.check != nil {
		if msg := rw.check(x, r); msg != "" {
			why = append(why, msg)
		}
	}
	if len(why) == 0 {
		return ""
	}
	return strings.Join(why, "; ") + "  " + trim(r.body)
}

func cell(op string, a *attacker, by naming, what string, want exp, msg string) string {
	return fmt.Sprintf("  %-40s | %-12s | %-6s | %s: want %s, %s", op, a.name, by, what, want, msg)
}

func trim(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// errorCode is the error code of an error answer, if it is one.
func errorCode(r *resp) (string, error) {
	m, err := r.jsonMap()
	if err != nil {
		return "", err
	}
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code, nil
}

func (r *resp) jsonMap() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}

// jsonField is a top-level field of a JSON answer, as text.
func jsonField(r *resp, k string) (string, bool) {
	m, err := r.jsonMap()
	if err != nil {
		return "", false
	}
	v, found := m[k]
	if !found {
		return "", false
	}
	if s, isStr := v.(string); isStr {
		return s, true
	}
	return fmt.Sprint(v), true
}

// token is a fresh API token of user name.
func (e *env) token(name string) string {
	e.t.Helper()
	tok, _, err := e.users.CreateToken(context.Background(), name, "isolation", 0)
	require.NoError(e.t, err)
	return tok
}

// newVictim makes alice, her session and her jobs, through the gateway.
func newVictim(e *env) *victim {
	t := e.t
	t.Helper()
	f := &victim{e: e, tok: e.user("alice", aliceRights...), opened: map[string]string{}, own: map[string]string{}}
	r := e.req(f.tok, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": aliceTID})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	f.sess = r.json(t)["sessionId"].(string)
	for _, c := range []call{
		put("/v1/sessions/"+f.sess+"/params/k", map[string]any{"value": "v"}),
		put("/v1/sessions/"+f.sess+"/params/ak?applicationId="+aliceApp, map[string]any{"value": "av"}),
		put("/v1/sessions/"+f.sess+"/files/"+aliceFile, []byte("alice's file")),
	} {
		r := e.req(f.tok, c.method, c.path, c.body)
		require.Equal(t, http.StatusNoContent, r.status, "%s %s: %s", c.method, c.path, r)
	}
	submit := func(body map[string]any, hdr ...string) string {
		r := e.req(f.tok, "POST", "/v1/jobs", body, hdr...)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r)
		return r.json(t)["id"].(string)
	}
	f.plain = submit(map[string]any{"type": "echo", "payload": "alice plain", "idempotencyKey": alicePlainKey})
	f.inSession = submit(map[string]any{"type": "echo", "payload": "alice in session", "idempotencyKey": aliceSessionKey},
		gateway.HeaderSession, f.sess)
	f.dead = f.spareDead()
	f.waiting = f.spareJob()
	e.waitJob(f.tok, f.plain)
	e.waitJob(f.tok, f.inSession)
	return f
}

// ownSession is a session of the attacker's own.
func (f *victim) ownSession(a *attacker) string {
	if f.own[a.name] == "" {
		r := f.e.req(a.tok, "POST", "/v1/sessions", map[string]any{"createSession": true})
		require.Equal(f.e.t, http.StatusCreated, r.status, "%s", r)
		f.own[a.name] = r.json(f.e.t)["sessionId"].(string)
	}
	return f.own[a.name]
}

// spareSession is a new session of alice's, for a row that closes one.
func (f *victim) spareSession() string {
	r := f.e.req(f.tok, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(f.e.t, http.StatusCreated, r.status, "%s", r)
	return r.json(f.e.t)["sessionId"].(string)
}

// spareJob is a new plain job of alice's, waiting for an hour.
func (f *victim) spareJob() string {
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := f.e.req(f.tok, "POST", "/v1/jobs", map[string]any{"type": "echo", "processAt": at})
	require.Equal(f.e.t, http.StatusAccepted, r.status, "%s", r)
	return r.json(f.e.t)["id"].(string)
}

// spareDead is a new dead-lettered job of alice's.
func (f *victim) spareDead() string {
	r := f.e.req(f.tok, "POST", "/v1/jobs", map[string]any{"type": "fail", "maxRetry": 0})
	require.Equal(f.e.t, http.StatusAccepted, r.status, "%s", r)
	id := r.json(f.e.t)["id"].(string)
	require.Equal(f.e.t, "failed", f.e.waitJob(f.tok, id)["state"])
	return id
}

// snapshot is what alice reads of her data, by what it is.
func (f *victim) snapshot() map[string]string {
	e := f.e
	out := map[string]string{}
	read := func(what, method, path string, body any, keep func(m map[string]any) any, hdr ...string) {
		r := e.req(f.tok, method, path, body, hdr...)
		if r.status/100 != 2 || keep == nil {
			out[what] = fmt.Sprintf("%d %s", r.status, trim(r.body))
			return
		}
		m, err := r.jsonMap()
		if err != nil {
			out[what] = err.Error()
			return
		}
		out[what] = fmt.Sprintf("%d %v", r.status, keep(m))
	}
	all := func(m map[string]any) any { return m }
	read("session", "GET", "/v1/sessions/"+f.sess, nil, func(m map[string]any) any {
		return []any{m["owner"], m["TID"], m["state"], m["openedBy"]}
	})
	read("parameters", "GET", "/v1/sessions/"+f.sess+"/params", nil, all)
	read("sub-session parameters", "GET", "/v1/sessions/"+f.sess+"/params?applicationId="+aliceApp, nil, all)
	read("files", "GET", "/v1/sessions/"+f.sess+"/files", nil, all)
	read("file "+aliceFile, "GET", "/v1/sessions/"+f.sess+"/files/"+aliceFile, nil, nil)
	read("TID lookup", "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": aliceTID},
		func(m map[string]any) any { return m["sessionId"] })
	for what, id := range map[string]string{"plain job": f.plain, "session job": f.inSession, "dead job": f.dead, "waiting job": f.waiting} {
		read(what, "GET", "/v1/jobs/"+id, nil, func(m map[string]any) any {
			return []any{m["id"], m["state"], m["owner"], m["sessionId"], m["payload"], m["attempts"]}
		})
	}
	read("dead letters", "GET", "/v1/dead", nil, func(m map[string]any) any {
		return strings.Contains(fmt.Sprint(m["jobs"]), f.dead)
	})
	// Her key still names her job: a resubmit answers it, unchanged.
	read("plain key", "POST", "/v1/jobs", map[string]any{"type": "echo", "idempotencyKey": alicePlainKey},
		func(m map[string]any) any { return []any{m["id"], m["existing"]} })
	return out
}

// outsideRow is a route outside the OpenAPI document: the dashboard (the
// attacker's token as its login cookie) or /metrics (as a bearer token).
type outsideRow struct {
	what, method, path string // path: {S} is alice's session, {J} her session job, {D} a dead job of hers
	cookie             bool
	want               map[string]int // by attacker; "anonymous" sends no token; "*" the others
	shows              string         // on 200: the body shows this ({S}, {J}) iff the attacker reads all
}

func outsideMatrix() []outsideRow {
	page := func(status int) map[string]int { return map[string]int{"anonymous": http.StatusSeeOther, "*": status} }
	api := func(status int) map[string]int {
		return map[string]int{"anonymous": http.StatusUnauthorized, "*": status}
	}
	with := func(m map[string]int, kv ...any) map[string]int {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(int)
		}
		return m
	}
	// The dashboard needs a read right; read:own reads one's own only.
	return []outsideRow{
		{what: "sessions page", method: "GET", path: "/ui/sessions", cookie: true, shows: "{S}",
			want: with(page(403), "read-own", 200, "read-all", 200, "admin", 200)},
		{what: "sessions JSON", method: "GET", path: "/ui/api/sessions", cookie: true, shows: "{S}",
			want: with(api(403), "read-own", 200, "read-all", 200, "admin", 200)},
		{what: "her sessions, JSON", method: "GET", path: "/ui/api/sessions?owner=alice", cookie: true, shows: "{S}",
			want: with(api(403), "read-all", 200, "admin", 200)},
		{what: "her session page", method: "GET", path: "/ui/sessions/{S}", cookie: true,
			want: with(page(403), "read-own", 404, "read-all", 200, "admin", 200)},
		{what: "her session JSON", method: "GET", path: "/ui/api/sessions/{S}", cookie: true,
			want: with(api(403), "read-own", 404, "read-all", 200, "admin", 200)},
		{what: "her job on the jobs page", method: "GET", path: "/ui/jobs?id={J}", cookie: true, shows: "{J}",
			want: with(page(403), "read-all", 200, "admin", 200)},
		{what: "requeue her dead job", method: "POST", path: "/ui/jobs/{D}/requeue", cookie: true,
			want: with(api(403), "admin", http.StatusSeeOther)},
		{what: "queues (asynqmon)", method: "GET", path: "/ui/queues/", cookie: true,
			want: with(page(403), "read-all", 200, "admin", 200)},
		// /metrics needs a token of a user with read:all (issue 16 item 5).
		{what: "metrics", method: "GET", path: "/metrics",
			want: with(api(403), "read-all", 200, "admin", 200)},
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// outside walks the routes outside the document; it returns the
// mismatches.
func outside(e *env, f *victim, attackers []*attacker) []string {
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	defer hc.CloseIdleConnections()
	do := func(method, path, tok string, cookie bool, form url.Values) (int, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		r, err := http.NewRequest(method, e.base+path, body)
		require.NoError(e.t, err)
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		switch {
		case tok == "":
		case cookie:
			r.AddCookie(&http.Cookie{Name: "sessionq_ui", Value: tok})
		default:
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := hc.Do(r)
		require.NoError(e.t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(e.t, err)
		return res.StatusCode, string(b)
	}
	who := append([]*attacker{{name: "anonymous"}}, attackers...)
	csrf := map[string]string{}
	for _, a := range who {
		if a.tok == "" {
			continue
		}
		if _, page := do("GET", "/ui/sessions", a.tok, true, nil); csrfField.MatchString(page) {
			csrf[a.name] = csrfField.FindStringSubmatch(page)[1]
		}
	}
	var bad []string
	for _, rw := range outsideMatrix() {
		for _, a := range who {
			want, found := rw.want[a.name]
			if !found {
				want = rw.want["*"]
			}
			ids := map[string]string{"{S}": f.sess, "{J}": f.inSession, "{D}": f.dead}
			if strings.Contains(rw.path, "{D}") && (want/100 == 2 || want == http.StatusSeeOther) {
				ids["{D}"] = f.spareDead()
			}
			path := rw.path
			for k, v := range ids {
				path = strings.ReplaceAll(path, k, v)
			}
			var form url.Values
			if rw.method == "POST" {
				form = url.Values{"csrf": {csrf[a.name]}}
			}
			got, body := do(rw.method, path, a.tok, rw.cookie, form)
			var why []string
			if got != want {
				why = append(why, fmt.Sprintf("got %d", got))
			} else if got == 200 && rw.shows != "" {
				if shows := strings.Contains(body, ids[rw.shows]); shows != a.readsAll() {
					why = append(why, fmt.Sprintf("shows alice's %s: %t", ids[rw.shows], shows))
				}
			}
			if len(why) > 0 {
				bad = append(bad, fmt.Sprintf("  %-40s | %-12s | %-6s | %s: want %d, %s  %s",
					rw.method+" "+rw.path, a.name, "-", rw.what, want, strings.Join(why, "; "), trim([]byte(body))))
			}
		}
	}
	return bad
}
