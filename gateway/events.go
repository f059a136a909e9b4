package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/redis/go-redis/v9"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// sseResponse documents an event stream, and registers the schemas of its
// events' data in the description's components.
func sseResponse(eventTypes map[string]any, api huma.API) map[string]*huma.Response {
	names := make([]string, 0, len(eventTypes))
	for name, v := range eventTypes {
		api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(v), true, name)
		names = append(names, name)
	}
	slices.Sort(names)
	return map[string]*huma.Response{"200": {
		Description: "Server-Sent Events; each event's data is one JSON object. Events: " + strings.Join(names, ", "),
		Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}},
	}}
}

func (s *Server) registerEvents() {
	jobEvents := map[string]any{"job": api.JobEvent{}}
	huma.Register(s.api, huma.Operation{
		OperationID: "jobEvents", Method: http.MethodGet, Path: "/v1/jobs/{id}/events", Tags: []string{"jobs"},
		Summary:   "Follow a job: its state now, then each change, until it ends",
		Responses: sseResponse(jobEvents, s.api),
		Errors:    []int{http.StatusBadRequest, http.StatusNotFound, http.StatusTooManyRequests},
	}, func(ctx context.Context, in *jobIn) (*huma.StreamResponse, error) {
		info, owner, err := s.readJob(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return s.stream(ctx, func(ctx context.Context, send sender) {
			s.followJob(ctx, send, info, owner)
		})
	})
	sessEvents := map[string]any{"job": api.JobEvent{}, "session": api.SessionEndEvent{}}
	huma.Register(s.api, huma.Operation{
		OperationID: "sessionEvents", Method: http.MethodGet, Path: "/v1/sessions/{id}/events", Tags: []string{"sessions"},
		Summary:     "Follow a session: its jobs starting and ending, and its end",
		Description: "Every job of the session as it is submitted, starts, waits for a retry, is requeued and ends, cancelled included (the ledger's event stream of the session, kept while followed: about the last 100 events, for 10 minutes after the last look), each event with an id; a client that reconnects with Last-Event-ID resumes after it, so that no event is lost or repeated. Then the session's end.",
		Responses:   sseResponse(sessEvents, s.api),
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusTooManyRequests},
	}, func(ctx context.Context, in *sessionEventsIn) (*huma.StreamResponse, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		if in.LastEventID != "" && !streamID.MatchString(in.LastEventID) {
			return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, "Last-Event-ID is not an event ID of this stream")
		}
		return s.stream(ctx, func(ctx context.Context, send sender) {
			s.followSession(ctx, send, in.ID, in.LastEventID)
		})
	})
}

// sessionEventsIn is a session event stream's request: Last-Event-ID
// resumes after that event.
type sessionEventsIn struct {
	Ref
	ID          string `path:"id" doc:"Session ID"`
	LastEventID string `header:"Last-Event-ID" maxLength:"64" doc:"Resume after this event (the id of the last job event received)"`
}

// streamID matches a Redis stream entry ID.
var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// sender writes one event; an error means the client is gone. Data of type
// withID is written with its ID.
type sender func(event string, data any) error

// withID is event data with an event ID: a client resumes after it with
// Last-Event-ID.
type withID struct {
	id string
	v  any
}

// streamCount counts the event streams open on this process, in all and
// per user, against Config.MaxStreams and Config.MaxStreamsPerUser.
type streamCount struct {
	mu     sync.Mutex
	total  int
	byUser map[string]int
}

// takeStream counts one more stream of user, or says why not.
func (s *Server) takeStream(user string) *apiError {
	c := &s.streams
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.byUser[user] >= s.cfg.MaxStreamsPerUser:
		return apiErr(http.StatusTooManyRequests, CodeTooManyStreams,
			fmt.Sprintf("this user has %d event streams open on this gateway, the most allowed; close one first", c.byUser[user]))
	case c.total >= s.cfg.MaxStreams:
		return apiErr(http.StatusTooManyRequests, CodeTooManyStreams, "this gateway holds as many event streams as it may; try again later")
	}
	if c.byUser == nil {
		c.byUser = map[string]int{}
	}
	c.total++
	c.byUser[user]++
	return nil
}

// dropStream counts one stream of user less.
func (s *Server) dropStream(user string) {
	c := &s.streams
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byUser[user]--; c.byUser[user] <= 0 {
		delete(c.byUser, user)
	}
}

// stream runs f with a sender on the answer, until f returns, the client
// goes or the server stops. The write deadline is lifted for the stream.
// It is refused with 429 too_many_streams, before any event, when the
// process or the request's user holds as many streams as allowed.
func (s *Server) stream(ctx context.Context, f func(ctx context.Context, send sender)) (*huma.StreamResponse, error) {
	user := scopeOf(ctx).conn.Name
	if err := s.takeStream(user); err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer s.dropStream(user)
		hctx.SetHeader("Content-Type", "text/event-stream")
		hctx.SetHeader("Cache-Control", "no-cache")
		hctx.SetStatus(http.StatusOK)
		_, w := humachi.Unwrap(hctx)
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(hctx.Context())
		defer cancel()
		go func() {
			select {
			case <-s.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		s.met.streams.Inc()
		defer s.met.streams.Dec()
		bw := hctx.BodyWriter()
		_ = rc.Flush()
		f(ctx, func(event string, data any) error {
			id := ""
			if w, ok := data.(withID); ok {
				id, data = w.id, w.v
			}
			b, err := marshalEvent(data)
			if err != nil {
				return err
			}
			if id != "" {
				if _, err := fmt.Fprintf(bw, "id: %s\n", id); err != nil {
					return err
				}
			}
			if _, err := fmt.Fprintf(bw, "event: %s\ndata: %s\n\n", event, b); err != nil {
				return err
			}
			return rc.Flush()
		})
	}}, nil
}

// followJob sends the job's state, then each change, until it ends.
func (s *Server) followJob(ctx context.Context, send sender, info *jobs.Info, owner string) {
	if send("job", api.JobEvent{Job: jobView(info, owner)}) != nil || info.State.Terminal() {
		return
	}
	last, lastProg := info.State, info.Progress
	t := time.NewTicker(s.cfg.EventPoll)
	defer t.Stop()
	sc, checked := scopeOf(ctx), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The token and the rights that let the stream start must hold.
		if time.Since(checked) >= streamRecheck {
			checked = time.Now()
			if !s.stillAllowed(ctx, sc, func(fresh *scope) bool { return fresh.canRead(owner) }) {
				return
			}
		}
		in, err := s.jobs.Get(ctx, info.ID)
		if errors.Is(err, jobs.ErrNotFound) {
			return
		}
		if err != nil {
			continue // Redis away for a moment: look again
		}
		if in.State != last || progressChanged(lastProg, in.Progress) {
			last, lastProg = in.State, in.Progress
			if send("job", api.JobEvent{Job: jobView(in, owner)}) != nil || in.State.Terminal() {
				return
			}
		}
	}
}

// progressChanged reports whether a job's progress moved since it was seen.
func progressChanged(was, now *jobs.Progress) bool {
	if was == nil || now == nil {
		return was != now
	}
	return *was != *now
}

// followSession sends a "job" event for each event of the session's job
// event stream (sq:{S}:ev, written by the ledger's scripts: a job was
// submitted, started, is retrying, was requeued, ended), each with its stream ID as its event ID, and a
// "session" event when the session ends, then returns. It starts after
// lastID when given (a client resuming), else with the events from now on.
func (s *Server) followSession(ctx context.Context, send sender, id, lastID string) {
	// The ledger writes the session's events only while its stream
	// exists: a marker entry creates it, and each look keeps it alive.
	ev := keys.SessionEvents(id)
	follow := time.Duration(keys.FollowTTL) * time.Millisecond
	marker, err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: ev, MaxLen: 100, Approx: true, Values: []any{"type", "stream.followed"},
	}).Result()
	if err == nil {
		_ = s.rdb.PExpire(ctx, ev, follow).Err()
	}
	cursor := lastID
	if cursor == "" {
		cursor = marker
		if err != nil {
			cursor = "0-0"
		}
	}
	// Session events after now only: an end before now would have made the
	// request a 404.
	lastEvent := "0-0"
	if ids, err := s.rdb.XRevRangeN(ctx, keys.Events, "+", "-", 1).Result(); err == nil && len(ids) > 0 {
		lastEvent = ids[0].ID
	}
	t := time.NewTicker(s.cfg.EventPoll)
	defer t.Stop()
	var goneSince time.Time
	sc, checked := scopeOf(ctx), time.Now()
	for {
		// The token and the rights that let the stream start must hold.
		if time.Since(checked) >= streamRecheck {
			checked = time.Now()
			if !s.stillAllowed(ctx, sc, func(fresh *scope) bool { return fresh.mayRead() == nil }) {
				return
			}
		}
		ended, gone, err := s.sessionEnded(ctx, id, &lastEvent)
		if err == nil && gone && ended == "" {
			// Its record is gone: its event follows at once after a close,
			// or at the next sweep after an expiry. Wait a little for it.
			if goneSince.IsZero() {
				goneSince = time.Now()
			} else if time.Since(goneSince) > endEventWait {
				ended = "session.expired"
			}
		}
		if ended != "" {
			_ = s.sessionJobEvents(ctx, send, id, &cursor)
			_ = send("session", api.SessionEndEvent{Type: ended, SessionID: id})
			return
		}
		if s.sessionJobEvents(ctx, send, id, &cursor) != nil {
			return
		}
		_ = s.rdb.PExpire(ctx, ev, follow).Err()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sessionJobEvents sends the job events of session id after *cursor, and
// moves it on; an error means the client is gone.
func (s *Server) sessionJobEvents(ctx context.Context, send sender, id string, cursor *string) error {
	msgs, err := s.rdb.XRangeN(ctx, keys.SessionEvents(id), "("+*cursor, "+", 100).Result()
	if err != nil {
		return nil // Redis away for a moment: look again
	}
	for _, m := range msgs {
		*cursor = m.ID
		if typ, _ := m.Values["type"].(string); !strings.HasPrefix(typ, "job.") {
			continue // a follow marker
		}
		jid, _ := m.Values["job"].(string)
		state, _ := m.Values["state"].(string)
		view := api.Job{ID: jid, State: api.JobState(state), SessionID: id}
		if in, err := s.jobs.Get(ctx, jid); err == nil {
			owner, _ := s.jobOwner(ctx, jid)
			view = jobView(in, owner)
			view.State = api.JobState(state) // as it was at this event
		}
		if typ, _ := m.Values["type"].(string); typ == "job.submitted" {
			view.Attempts, view.LastError = 0, "" // none yet at its submit
		}
		if err := send("job", withID{m.ID, api.JobEvent{Job: view.ForState()}}); err != nil {
			return err
		}
	}
	return nil
}

// endEventWait is how long a stream waits for the event of a session whose
// record is gone before it calls it expired.
const endEventWait = 3 * time.Second

// sessionEnded reads the session events after *last and reports how the
// session ended ("" when no event says), and whether its record is gone.
func (s *Server) sessionEnded(ctx context.Context, id string, last *string) (string, bool, error) {
	msgs, err := s.rdb.XRangeN(ctx, keys.Events, "("+*last, "+", 1000).Result()
	if err != nil {
		return "", false, err
	}
	for _, m := range msgs {
		*last = m.ID
		if m.Values["session"] == id {
			if typ, _ := m.Values["type"].(string); typ == "session.closed" || typ == "session.expired" {
				return typ, true, nil
			}
		}
	}
	_, err = s.table.Get(ctx, id, sessiontable.OutOfSession())
	if errors.Is(err, sessiontable.ErrNotFound) {
		return "", true, nil
	}
	return "", false, err
}

// marshalEvent is an event's data as huma writes answers: without HTML
// escaping, so that a payload shown as a JSON value reads back byte for
// byte (api.EncodeData).
func marshalEvent(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
