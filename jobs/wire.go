package jobs

import "github.com/sessionq/sessionq/api"

// API is the job as the wire contract shows it on every surface (the
// gateway, `sessionq job get --json` with or without --api, the
// dashboard's JSON): camelCase, payload and result per api.EncodeData, with
// only the fields of its state (api.Job.ForState). The owner is the
// gateway's to tell: set it on the result when known.
func (in *Info) API() api.Job {
	j := api.Job{ID: in.ID, Type: in.Type, Queue: in.Queue, State: api.JobState(in.State),
		SessionID: in.SessionID, ApplicationID: in.AppID, Seq: in.Seq, FailurePolicy: string(in.Policy),
		Attempts: in.Attempts, MaxRetry: in.MaxRetry, LastError: in.LastError, Created: in.Created,
		Started: in.Started, Finished: in.Finished, NextRunAt: in.NextRunAt, OutOfSession: in.OutOfSession}
	j.Payload, j.PayloadBase64 = api.EncodeData(in.Payload)
	j.Result, j.ResultBase64 = api.EncodeData(in.Result)
	if p := in.Progress; p != nil {
		j.Progress = &api.Progress{Done: p.Done, Total: p.Total, Message: p.Message, At: p.At}
	}
	return j.ForState()
}
