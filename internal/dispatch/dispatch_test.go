package dispatch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/ledger"
)

func TestFromTask(t *testing.T) {
	t.Parallel()
	c, ok, err := FromTask(asynq.NewTaskWithHeaders("t", nil, map[string]string{HeaderJob: "j", HeaderSession: "s", HeaderGen: "3"}))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Carried{Job: "j", Session: "s", Gen: 3}, c)
	_, ok, err = FromTask(asynq.NewTask("t", []byte("x")))
	require.NoError(t, err)
	require.False(t, ok, "a plain task")
	_, ok, err = FromTask(asynq.NewTaskWithHeaders("t", nil, map[string]string{HeaderJob: "j", HeaderGen: "x"}))
	require.True(t, ok)
	require.Error(t, err)
	h := map[string]string{HeaderJob: "j", HeaderSession: "s", HeaderGen: "3"}
	for _, bad := range []string{"x", `{"job":"k","session":"s","dispatch":3}`, `{"job":"j","session":"s","dispatch":4}`} {
		_, ok, err = FromTask(asynq.NewTaskWithHeaders("t", []byte(bad), h))
		require.True(t, ok)
		require.Error(t, err, "payload %s does not match the headers", bad)
	}
}

type enqueuer struct{ task *asynq.Task }

func (e *enqueuer) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	e.task = t
	return &asynq.TaskInfo{}, nil
}

// The carrier's payload is readable JSON naming the job, session and
// dispatch, and FromTask reads back what Enqueue wrote.
func TestCarrierPayload(t *testing.T) {
	t.Parallel()
	var e enqueuer
	require.NoError(t, Enqueue(context.Background(), &e, &ledger.Task{Session: "s1", ID: "j1", Type: "pdf", Gen: 2, Queue: "default", At: time.Now()}))
	var p Payload
	require.NoError(t, json.Unmarshal(e.task.Payload(), &p))
	require.Equal(t, Payload{Carrier: CarrierKind, Job: "j1", Session: "s1", Dispatch: 2}, p)
	require.Less(t, len(e.task.Payload()), 200, "small")
	c, ok, err := FromTask(e.task)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Carried{Job: "j1", Session: "s1", Gen: 2}, c)
}

// Headers come from Redis: whatever they hold, FromTask does not panic and
// accepts only a complete, numeric carrier.
func FuzzFromTask(f *testing.F) {
	f.Add("j", "s", "1", "")
	f.Add("", "", "", "")
	f.Add("j", "s", "-9223372036854775809", "")
	f.Add("j", "s", "1", `{"job":"j","session":"s","dispatch":1}`)
	f.Add("j", "s", "1", `{"job":"j","session":"t","dispatch":1}`)
	f.Fuzz(func(t *testing.T, job, session, gen, payload string) {
		c, ok, err := FromTask(asynq.NewTaskWithHeaders("t", []byte(payload), map[string]string{HeaderJob: job, HeaderSession: session, HeaderGen: gen}))
		if !ok {
			t.Fatal("a task with a job header is a session task")
		}
		if err != nil {
			return
		}
		if c.Job == "" || c.Session == "" {
			t.Fatalf("accepted an incomplete carrier %+v", c)
		}
		if payload != "" {
			var p Payload
			if json.Unmarshal([]byte(payload), &p) != nil || p.Job != c.Job || p.Session != c.Session || p.Dispatch != c.Gen {
				t.Fatalf("accepted payload %q that does not match %+v", payload, c)
			}
		}
	})
}
