package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
)

// jobView is a job as the gateway shows it: only the fields of its state
// (api.Job.ForState), its payload and result as api.EncodeData shows bytes.
func jobView(in *jobs.Info, owner string) api.Job {
	v := in.API()
	v.Owner = owner
	return v
}

// jobList is an empty list of jobs, never null.
func jobList() api.JobList { return api.JobList{Jobs: []api.Job{}} }

type submitIn struct {
	Ref
	Body api.SubmitRequest
}

type submitOut struct {
	Status  int
	Warning string `header:"Sessionq-Warning" doc:"Set when no live worker handles the job's type: the job waits (state waiting_for_handler) until one that does joins"`
	Body    api.SubmitResponse
}

type jobIn struct {
	Ref
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9._:@-]+$" doc:"Job ID"`
}

type jobOut struct {
	Body api.Job
}

// cancelOut's state is cancelled, or running when a running session job
// will be cancelled at its next lease renewal, or the state it ended in.
type cancelOut struct {
	Body api.JobStateResponse
}

type deadIn struct {
	Ref
	Limit int `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type deadOut struct {
	Body api.JobList
}

func validateApp(app string) *apiError {
	if err := jobs.ValidateApplicationID(app); err != nil {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	return nil
}

func (s *Server) registerJobs() {
	api := s.api
	tags := []string{"jobs"}
	huma.Register(api, huma.Operation{
		OperationID: "submitJob", Method: http.MethodPost, Path: "/v1/jobs", Tags: tags,
		Summary:       "Submit a job, in the request's session when it names one",
		Description:   "Needs the right submit:QUEUE/TYPE of the acting user (the session's owner, else the connection's user). An idempotencyKey lives in the acting user's namespace (another user's key of the same name names another job) and is bound to its first submit's kind (with or without a session), session, queue and type: a reuse that asks for another is 409 idempotency_conflict and changes nothing.",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: s.cfg.MaxBody,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge},
	}, s.submit)
	huma.Register(api, huma.Operation{
		OperationID: "getJob", Method: http.MethodGet, Path: "/v1/jobs/{id}", Tags: tags,
		Summary: "Read a job", Errors: []int{http.StatusBadRequest, http.StatusNotFound},
		Description: "The job with the fields of its state only. A job the caller may not read answers 404, as an unknown one.",
	}, func(ctx context.Context, in *jobIn) (*jobOut, error) {
		info, owner, err := s.readJob(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &jobOut{Body: jobView(info, owner)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "cancelJob", Method: http.MethodDelete, Path: "/v1/jobs/{id}", Tags: tags,
		Summary: "Cancel a job", Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
		Description: "A waiting job ends cancelled at once and its session goes on; a running session job is cancelled at its worker's next lease renewal; a running job without a session is taken off its worker, or 409 job_running when its worker does not answer. Cancelling an ended job changes nothing and answers its state. Needs write rights on the job.",
	}, func(ctx context.Context, in *jobIn) (*cancelOut, error) {
		_, owner, err := s.readJob(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !scopeOf(ctx).canWrite(owner) {
			return nil, apiErr(http.StatusForbidden, CodeForbidden, "cancelling this job needs write:own (its owner) or write:all")
		}
		st, cerr := s.jobs.Cancel(ctx, in.ID)
		switch {
		case errors.Is(cerr, jobs.ErrRunning):
			return nil, apiErr(http.StatusConflict, CodeJobRunning, "a running job without a session cannot be cancelled")
		case cerr != nil:
			return nil, s.jobErr(ctx, "cancelling a job", cerr)
		}
		out := &cancelOut{}
		out.Body = jobState(in.ID, st)
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "requeueDead", Method: http.MethodPost, Path: "/v1/dead/{id}/requeue", Tags: tags,
		Summary:     "Run a dead-lettered (failed) job again",
		Description: "A job without a session goes back to its queue; a session job goes back to the head of its session when the session has not moved on since it failed, else to its tail. Needs write rights on the job.",
		Errors:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *jobIn) (*cancelOut, error) {
		_, owner, err := s.readJob(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !scopeOf(ctx).canWrite(owner) {
			return nil, apiErr(http.StatusForbidden, CodeForbidden, "requeueing this job needs write:own (its owner) or write:all")
		}
		st, rerr := s.jobs.Retry(ctx, in.ID)
		switch {
		case errors.Is(rerr, jobs.ErrNotDead):
			return nil, apiErr(http.StatusConflict, CodeNotDead, "only a dead-lettered (failed) job can be requeued")
		case rerr != nil:
			return nil, s.jobErr(ctx, "requeueing a job", rerr)
		}
		out := &cancelOut{}
		out.Body = jobState(in.ID, st)
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "listDead", Method: http.MethodGet, Path: "/v1/dead", Tags: tags,
		Summary:     "Dead-lettered (failed) jobs the caller may read",
		Description: "The jobs that failed for good, up to limit (100 by default): the newest session jobs first, then the archived jobs without a session; those the caller may not read are left out.",
	}, func(ctx context.Context, in *deadIn) (*deadOut, error) {
		l, err := s.jobs.DeadLetters(ctx, in.Limit)
		if err != nil {
			return nil, s.internal(ctx, "listing dead letters", err)
		}
		out := &deadOut{Body: jobList()}
		sc := scopeOf(ctx)
		for _, info := range l {
			owner, err := s.jobOwner(ctx, info.ID)
			if err != nil {
				return nil, s.internal(ctx, "listing dead letters", err)
			}
			if sc.canRead(owner) {
				out.Body.Jobs = append(out.Body.Jobs, jobView(info, owner))
			}
		}
		return out, nil
	})
}

func (s *Server) submit(ctx context.Context, in *submitIn) (*submitOut, error) {
	sc := scopeOf(ctx)
	b := in.Body
	payload, err := api.DecodeData(b.Payload, b.PayloadBase64)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	queue := b.Queue
	if queue == "" {
		queue = jobs.DefaultQueue
	}
	opts := append(sc.jobOpts(), jobs.Queue(queue))
	if b.MaxRetry != nil {
		opts = append(opts, jobs.MaxRetry(*b.MaxRetry))
	}
	if b.Timeout != "" {
		d, err := time.ParseDuration(b.Timeout)
		if err != nil || d <= 0 {
			return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, "timeout: want a positive Go duration such as 30s")
		}
		opts = append(opts, jobs.Timeout(d))
	}
	if !b.ProcessAt.IsZero() {
		opts = append(opts, jobs.ProcessAt(b.ProcessAt))
	}
	if b.IdempotencyKey != "" {
		opts = append(opts, jobs.IdempotencyKey(b.IdempotencyKey))
	}
	if b.FailurePolicy != "" {
		opts = append(opts, jobs.FailurePolicy(jobs.Policy(b.FailurePolicy)))
	}
	// Validate what the rights check reads before checking it.
	if err := jobs.ValidateType(b.Type); err != nil {
		return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	if err := jobs.ValidateQueue(queue); err != nil {
		return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	actor := sc.actor()
	if !actor.CanSubmit(queue, b.Type) {
		return nil, apiErr(http.StatusForbidden, CodeForbidden,
			fmt.Sprintf("user %s may not submit %s jobs to queue %s (needs submit:%s/%s)", actor.Name, b.Type, queue, queue, b.Type))
	}
	// The key lives in the acting user's namespace: another user's key of
	// the same name names another job.
	opts = append(opts, jobs.Owner(actor.Name))
	sub, err := s.jobs.Submit(ctx, b.Type, payload, opts...)
	if err != nil {
		return nil, s.jobErr(ctx, "submitting a job", err)
	}
	// A repeat writes the record too: a gateway that stopped between a
	// first submit and its record leaves it to the repeat. The ID lives in
	// the actor's namespace, and an existing record is never overwritten.
	if err := s.recordJob(ctx, sub, actor.Name, sc.conn.Name); err != nil {
		// The job stands; only its owner record is missing, which
		// makes it readable by read:all only.
		s.log.ErrorContext(ctx, "gateway: recording a job's owner", "job", sub.ID, "err", err)
	}
	out := &submitOut{Status: http.StatusAccepted}
	out.Body.ID, out.Body.SessionID, out.Body.Seq, out.Body.State, out.Body.Existing =
		sub.ID, sub.SessionID, sub.Seq, api.JobState(sub.State), sub.Existing
	out.Warning = s.handlerWarning(ctx, b.Type)
	out.Body.Warning = out.Warning
	return out, nil
}

// recordJob remembers who submitted a job (not on the worker's path). It
// never writes over a record that exists: a job keeps its owner.
func (s *Server) recordJob(ctx context.Context, sub jobs.Submitted, owner, conn string) error {
	var set *redis.BoolCmd
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.HSetNX(ctx, keys.GatewayJob(sub.ID), "owner", owner)
		p.HSetNX(ctx, keys.GatewayJob(sub.ID), "conn", conn)
		p.Expire(ctx, keys.GatewayJob(sub.ID), s.cfg.JobRecordTTL)
		return nil
	}); err != nil {
		return err
	}
	if !set.Val() && !sub.Existing {
		s.log.WarnContext(ctx, "gateway: a new job already had an owner record; it keeps it", "job", sub.ID, "user", owner)
	}
	return nil
}

func (s *Server) jobOwner(ctx context.Context, id string) (string, error) {
	o, err := s.rdb.HGet(ctx, keys.GatewayJob(id), "owner").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return o, err
}

// readJob reads job id when the request may read it; an unreadable job
// looks unknown.
func (s *Server) readJob(ctx context.Context, id string) (*jobs.Info, string, *apiError) {
	if err := jobs.ValidateJobID(id); err != nil {
		return nil, "", apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	owner, err := s.jobOwner(ctx, id)
	if err != nil {
		return nil, "", s.internal(ctx, "reading a job", err)
	}
	if !scopeOf(ctx).canRead(owner) {
		return nil, "", apiErr(http.StatusNotFound, CodeJobNotFound, "no such job")
	}
	info, err := s.jobs.Get(ctx, id)
	if err != nil {
		return nil, "", s.jobErr(ctx, "reading a job", err)
	}
	return info, owner, nil
}

func (s *Server) jobErr(ctx context.Context, doing string, err error) *apiError {
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return apiErr(http.StatusNotFound, CodeJobNotFound, "no such job")
	case errors.Is(err, jobs.ErrInvalid):
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	case errors.Is(err, jobs.ErrBacklogFull):
		return apiErr(http.StatusTooManyRequests, CodeBacklogFull, err.Error())
	case errors.Is(err, jobs.ErrIdempotencyConflict):
		return apiErr(http.StatusConflict, CodeIdempotencyConflict, err.Error())
	}
	return s.internal(ctx, doing, err)
}

// jobState is the answer of an action on job id that left it in state st.
func jobState(id string, st jobs.State) api.JobStateResponse {
	return api.JobStateResponse{ID: id, State: api.JobState(st)}
}
