package dispatch

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
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
}

// Headers come from Redis: whatever they hold, FromTask does not panic and
// accepts only a complete, numeric carrier.
func FuzzFromTask(f *testing.F) {
	f.Add("j", "s", "1")
	f.Add("", "", "")
	f.Add("j", "s", "-9223372036854775809")
	f.Fuzz(func(t *testing.T, job, session, gen string) {
		c, ok, err := FromTask(asynq.NewTaskWithHeaders("t", nil, map[string]string{HeaderJob: job, HeaderSession: session, HeaderGen: gen}))
		if !ok {
			t.Fatal("a task with a job header is a session task")
		}
		if err == nil && (c.Job == "" || c.Session == "") {
			t.Fatalf("accepted an incomplete carrier %+v", c)
		}
	})
}
