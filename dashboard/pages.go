package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

type csrfKey struct{}

func withCSRF(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, csrfKey{}, tok)
}

func csrfOf(ctx context.Context) string { s, _ := ctx.Value(csrfKey{}).(string); return s }

// Row is one session of the sessions page.
type Row struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	TID         string    `json:"TID,omitempty"`
	Backlog     int64     `json:"backlog"`
	LeaseHolder string    `json:"leaseHolder,omitempty"` // the worker holding the session's lease
	LeaseJob    string    `json:"leaseJob,omitempty"`    // the job it runs
	LeaseUntil  time.Time `json:"leaseUntil,omitzero"`   // when the lease lapses unless renewed
	LastAccess  time.Time `json:"lastAccess,omitzero"`
	Expires     time.Time `json:"expires,omitzero"`
	Hot         bool      `json:"hot"`
	NoRecord    bool      `json:"noRecord"` // jobs under an ID that names no open session
}

// sessionsView is the sessions page.
type sessionsView struct {
	Rows    []Row  `json:"rows"`
	Owner   string `json:"owner"`
	Sort    string `json:"sort"`
	Parked  int64  `json:"parked"` // total backlog of the rows
	All     bool   `json:"all"`    // the user reads every owner's sessions
	Queues  bool   `json:"-"`
	Refresh string `json:"-"`
}

func (h *Handler) sessionsData(r *http.Request, u *users.User) (*sessionsView, int, string, error) {
	q := r.URL.Query()
	v := &sessionsView{Owner: q.Get("owner"), Sort: q.Get("sort"), All: u.Has(users.ReadAll), Queues: h.cfg.Queues != nil}
	switch v.Sort {
	case "", "backlog", "created":
	default:
		return nil, http.StatusBadRequest, "sort is backlog or created", nil
	}
	if v.Owner != "" {
		if err := sessiontable.ValidateOwner(v.Owner); err != nil {
			return nil, http.StatusBadRequest, "bad owner: " + err.Error(), nil
		}
	}
	owner := v.Owner
	if !v.All {
		if owner != "" && owner != u.Name {
			return nil, http.StatusForbidden, "read:own shows your own sessions only", nil
		}
		owner = u.Name
	}
	ctx := r.Context()
	infos, err := h.cfg.Table.List(ctx, sessiontable.ListOptions{Owner: owner, Limit: h.cfg.MaxRows})
	if err != nil {
		return nil, 0, "", err
	}
	rows := make([]Row, 0, len(infos))
	seen := map[string]bool{}
	for _, in := range infos {
		seen[in.ID] = true
		rows = append(rows, Row{ID: in.ID, Owner: in.Owner, TID: in.TID, LastAccess: in.LastAccess, Expires: in.Expires})
	}
	if v.All && v.Owner == "" {
		orphans, err := h.orphans(ctx, seen)
		if err != nil {
			return nil, 0, "", err
		}
		for _, id := range orphans {
			rows = append(rows, Row{ID: id, NoRecord: true})
		}
	}
	if err := h.fill(ctx, rows); err != nil {
		return nil, 0, "", err
	}
	for _, r := range rows {
		v.Parked += r.Backlog
	}
	if v.Sort != "created" {
		slices.SortStableFunc(rows, func(a, b Row) int { return cmp.Compare(b.Backlog, a.Backlog) })
	}
	v.Rows = rows
	return v, 0, "", nil
}

// orphans are the session IDs of the repair index (sessions with unfinished
// work) that name no session record in seen, up to MaxRows.
func (h *Handler) orphans(ctx context.Context, seen map[string]bool) ([]string, error) {
	p := h.cfg.Redis.Pipeline()
	cmds := make([]*redis.StringSliceCmd, keys.DueShards)
	for n := range cmds {
		cmds[n] = p.ZRange(ctx, keys.Due(n), 0, int64(h.cfg.MaxRows)-1)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var ids []string
	for _, c := range cmds {
		for _, id := range c.Val() {
			if !seen[id] && len(ids) < h.cfg.MaxRows && jobs.ValidateSessionID(id) == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// An ID with a record the list did not show (another owner's, or past
	// MaxRows) is not an orphan.
	p = h.cfg.Redis.Pipeline()
	ex := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		ex[i] = p.Exists(ctx, keys.Session(id))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, err
	}
	out := ids[:0]
	for i, id := range ids {
		if ex[i].Val() == 0 {
			out = append(out, id)
		}
	}
	return out, nil
}

// fill reads each row's backlog and lease, and flags the hot ones.
func (h *Handler) fill(ctx context.Context, rows []Row) error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	runs, err := ledger.New(h.cfg.Redis).Runs(ctx, ids)
	if err != nil {
		return err
	}
	hot, err := h.cfg.Table.HotSessions(ctx)
	if err != nil {
		return err
	}
	isHot := map[string]bool{}
	for _, s := range hot {
		isHot[s.ID] = true
	}
	for i, run := range runs {
		rows[i].Backlog = run.Backlog
		rows[i].Hot = isHot[rows[i].ID]
		rows[i].LeaseHolder, rows[i].LeaseJob, rows[i].LeaseUntil = run.Holder, run.Job, run.Until
	}
	return nil
}

func (h *Handler) sessions(w http.ResponseWriter, r *http.Request, u *users.User) {
	v, status, msg, err := h.sessionsData(r, u)
	switch {
	case err != nil:
		h.unavailable(w, r, "listing sessions", err)
	case status != 0:
		h.fail(w, r, status, msg)
	default:
		v.Refresh = h.cfg.Prefix + "/api/sessions?" + r.URL.RawQuery
		h.render(w, r, http.StatusOK, "sessions", v)
	}
}

func (h *Handler) sessionsJSON(w http.ResponseWriter, r *http.Request, u *users.User) {
	v, status, msg, err := h.sessionsData(r, u)
	switch {
	case err != nil:
		h.unavailable(w, r, "listing sessions", err)
	case status != 0:
		h.fail(w, r, status, msg)
	default:
		writeJSON(w, v)
	}
}

// sessionView is one session's page.
type sessionView struct {
	ID      string
	Info    *sessiontable.Info // nil: no record
	Params  map[string]string
	Files   []sessiontable.FileInfo
	Jobs    []*jobs.Info
	Backlog int64
	Lease   Row
	// WaitingForHandler is the type of the session's head job when it is
	// ready but no live worker handles it: why the session does not move.
	WaitingForHandler string
	Refresh           string
}

// sessionJSON is one session's page as its JSON shows it: the session and
// its jobs as the wire contract shows them (api.Session, api.Job).
type sessionJSON struct {
	ID      string            `json:"id"`
	Info    *api.Session      `json:"info,omitempty"` // nil: no record
	Params  map[string]string `json:"params,omitempty"`
	Files   []api.File        `json:"files,omitempty"`
	Jobs    []jobRow          `json:"jobs"`
	Backlog int64             `json:"backlog"`
	Lease   Row               `json:"lease"`
	// WaitingForHandler: the head's type when no live worker handles it.
	WaitingForHandler string `json:"waitingForHandler,omitempty"`
}

// jobRow is a job of a session's page: the job, and the worker of its last
// run.
type jobRow struct {
	api.Job
	Worker string `json:"worker,omitempty"`
}

func (v *sessionView) json() sessionJSON {
	out := sessionJSON{ID: v.ID, Params: v.Params, Backlog: v.Backlog, Lease: v.Lease, WaitingForHandler: v.WaitingForHandler, Jobs: make([]jobRow, len(v.Jobs))}
	if in := v.Info; in != nil {
		out.Info = &api.Session{SessionID: in.ID, Owner: in.Owner, TID: in.TID, State: string(in.State),
			Created: in.Created, LastAccess: in.LastAccess, IdleTimeout: in.IdleTimeout.String(),
			Deadline: in.Deadline, Expires: in.Expires}
	}
	for _, f := range v.Files {
		out.Files = append(out.Files, api.File(f))
	}
	for i, j := range v.Jobs {
		out.Jobs[i] = jobRow{Job: j.API(), Worker: j.Worker}
	}
	return out
}

const sessionJobsShown = 500

func (h *Handler) sessionData(r *http.Request, u *users.User) (*sessionView, int, string, error) {
	id := r.PathValue("id")
	if err := jobs.ValidateSessionID(id); err != nil {
		return nil, http.StatusBadRequest, "bad session ID: " + err.Error(), nil
	}
	ctx := r.Context()
	v := &sessionView{ID: id}
	in, err := h.cfg.Table.Get(ctx, id, sessiontable.OutOfSession())
	switch {
	case errors.Is(err, sessiontable.ErrNotFound), errors.Is(err, sessiontable.ErrInvalid):
	case err != nil:
		return nil, 0, "", err
	default:
		v.Info = in
	}
	owner := ""
	if in != nil {
		owner = in.Owner
	}
	if !u.CanRead(owner) {
		return nil, http.StatusNotFound, "no such session", nil
	}
	if v.Info != nil {
		if v.Params, err = h.cfg.Table.Params(ctx, id, sessiontable.OutOfSession()); err != nil && !errors.Is(err, sessiontable.ErrNotFound) {
			return nil, 0, "", err
		}
		if v.Files, err = h.cfg.Table.Files(ctx, id, sessiontable.OutOfSession()); err != nil && !errors.Is(err, sessiontable.ErrNotFound) {
			return nil, 0, "", err
		}
	}
	if v.Jobs, v.Backlog, err = h.cfg.Jobs.SessionJobs(ctx, id, 0, sessionJobsShown); err != nil {
		return nil, 0, "", err
	}
	if v.Info == nil && v.Backlog == 0 {
		return nil, http.StatusNotFound, "no such session, and no jobs under this ID", nil
	}
	if len(v.Jobs) > 0 && (v.Jobs[0].State == jobs.StatePending || v.Jobs[0].State == jobs.StateRetrying) {
		ok, err := h.cfg.Jobs.Handled(ctx, v.Jobs[0].Type)
		if err != nil {
			return nil, 0, "", err
		}
		if !ok {
			v.Jobs[0].State, v.WaitingForHandler = jobs.StateWaitingForHandler, v.Jobs[0].Type
		}
	}
	rows := []Row{{ID: id}}
	if err := h.fill(ctx, rows); err != nil {
		return nil, 0, "", err
	}
	v.Lease = rows[0]
	return v, 0, "", nil
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request, u *users.User) {
	v, status, msg, err := h.sessionData(r, u)
	switch {
	case err != nil:
		h.unavailable(w, r, "reading a session", err)
	case status != 0:
		h.fail(w, r, status, msg)
	default:
		v.Refresh = h.cfg.Prefix + "/api/sessions/" + v.ID
		h.render(w, r, http.StatusOK, "session", v)
	}
}

func (h *Handler) sessionJSON(w http.ResponseWriter, r *http.Request, u *users.User) {
	v, status, msg, err := h.sessionData(r, u)
	switch {
	case err != nil:
		h.unavailable(w, r, "reading a session", err)
	case status != 0:
		h.fail(w, r, status, msg)
	default:
		writeJSON(w, v.json())
	}
}

// jobsView is the jobs page: a looked-up job and the dead letters.
type jobsView struct {
	Query    string
	Job      *jobs.Info
	NotFound bool
	Dead     []*jobs.Info
	CanWrite bool
	Flash    string
}

func (h *Handler) jobs(w http.ResponseWriter, r *http.Request, u *users.User) {
	if !u.Has(users.ReadAll) {
		h.fail(w, r, http.StatusForbidden, "jobs and dead letters need read:all or admin")
		return
	}
	ctx := r.Context()
	v := &jobsView{Query: r.URL.Query().Get("id"), CanWrite: u.Has(users.WriteAll), Flash: r.URL.Query().Get("requeued")}
	if v.Flash != "" && jobs.ValidateJobID(v.Flash) != nil {
		v.Flash = ""
	}
	if v.Query != "" {
		if err := jobs.ValidateJobID(v.Query); err != nil {
			h.fail(w, r, http.StatusBadRequest, "bad job ID: "+err.Error())
			return
		}
		in, err := h.cfg.Jobs.Get(ctx, v.Query)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			v.NotFound = true
		case err != nil:
			h.unavailable(w, r, "reading a job", err)
			return
		default:
			v.Job = in
		}
	}
	dead, err := h.cfg.Jobs.DeadLetters(ctx, h.cfg.MaxRows)
	if err != nil {
		h.unavailable(w, r, "reading dead letters", err)
		return
	}
	v.Dead = dead
	status := http.StatusOK
	if v.NotFound {
		status = http.StatusNotFound
	}
	h.render(w, r, status, "jobs", v)
}

func (h *Handler) requeue(w http.ResponseWriter, r *http.Request, u *users.User) {
	if !u.Has(users.WriteAll) {
		h.fail(w, r, http.StatusForbidden, "requeueing needs write:all or admin")
		return
	}
	id := r.PathValue("id")
	if err := jobs.ValidateJobID(id); err != nil {
		h.fail(w, r, http.StatusBadRequest, "bad job ID: "+err.Error())
		return
	}
	_, err := h.cfg.Jobs.Retry(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "no such job")
	case errors.Is(err, jobs.ErrNotDead):
		h.fail(w, r, http.StatusConflict, "the job is not dead-lettered: "+err.Error())
	case err != nil:
		h.unavailable(w, r, "requeueing a job", err)
	default:
		http.Redirect(w, r, h.cfg.Prefix+"/jobs?requeued="+id, http.StatusSeeOther)
	}
}
