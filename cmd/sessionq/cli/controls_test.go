package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// job list, retry and delete on the dead letters of a real worker.
func TestJobListRetryDelete(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the exec handler runs on Linux only")
	}
	_, url := redistest.Client(t)
	w, _ := background(t, "worker", "--redis", url, "--exec", "fail=false", "--shutdown-grace", "1s")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(w.err.String(), "worker started") },
		"worker did not start: "+w.err.String())
	submit := func(args ...string) string {
		out, _, err := run(t, append([]string{"submit", "--redis", url, "--type", "fail", "--max-retry", "0"}, args...)...)
		require.NoError(t, err)
		return strings.TrimSpace(out)
	}
	state := func(id string) jobs.State {
		out, _, err := run(t, "job", "get", id, "--redis", url)
		if err != nil {
			return ""
		}
		var in api.Job
		require.NoError(t, json.Unmarshal([]byte(out), &in))
		return jobs.State(in.State)
	}
	plain, sess := submit(), submit("--session", "s1")
	eventually(t, 10*time.Second, func() bool { return state(plain) == jobs.StateFailed && state(sess) == jobs.StateFailed },
		"jobs did not fail")

	out, _, err := run(t, "job", "list", "--redis", url, "--state", "dead")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^ID +STATE +QUEUE +TYPE +SESSION +SEQ +ATTEMPTS$`, lines[0])
	require.Regexp(t, "^"+sess+` +failed +default +fail +s1 +1 +1$`, lines[1])
	require.Regexp(t, "^"+plain+` +failed +default +fail +- +- +1$`, lines[2])
	out, _, err = run(t, "job", "list", "--redis", url, "--session", "s1", "--json")
	require.NoError(t, err)
	var in api.Job
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, sess, in.ID)

	out, _, err = run(t, "job", "retry", plain, "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "pending\n", out)
	eventually(t, 10*time.Second, func() bool { return state(plain) == jobs.StateFailed }, "retried job did not fail again")
	out, _, err = run(t, "job", "retry", sess, "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "pending\n", out)
	eventually(t, 10*time.Second, func() bool { return state(sess) == jobs.StateFailed }, "requeued session job did not fail again")

	for _, id := range []string{plain, sess} {
		out, _, err = run(t, "job", "delete", id, "--redis", url)
		require.NoError(t, err)
		require.Equal(t, "deleted\n", out)
		_, _, err = run(t, "job", "get", id, "--redis", url)
		require.ErrorContains(t, err, "not found")
	}
	out, _, err = run(t, "job", "list", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(out, "\n"), "only the header is left: %s", out)

	waiting, _, err := run(t, "submit", "--redis", url, "--type", "other", "--queue", "nobody")
	require.NoError(t, err)
	_, _, err = run(t, "job", "delete", strings.TrimSpace(waiting), "--redis", url)
	require.ErrorContains(t, err, "is waiting_for_handler: jobs: job is not dead-lettered; only dead-lettered (failed) jobs can be retried or deleted")
	for _, bad := range [][]string{
		{"--state", "bogus"}, {"--limit", "0"}, {"--page", "0"}, {"--session", ""}, {"--queue", "a:b"},
	} {
		_, _, err := run(t, append([]string{"job", "list", "--redis", url}, bad...)...)
		require.Error(t, err, "%q", bad)
	}
}

func TestQueueCommands(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, _, err := run(t, "queue", "pause", "slow", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "paused\n", out)
	for range 2 {
		_, _, err = run(t, "submit", "--redis", url, "--type", "t", "--queue", "slow", "--session", "s")
		require.NoError(t, err)
	}
	out, _, err = run(t, "queue", "list", "--redis", url)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^QUEUE +PAUSED +DEPTH +PENDING +SCHEDULED +RETRYING +RUNNING +PARKED +DEAD +PROCESSED +SUCCEEDED +FAILED +CANCELLED$`, lines[0])
	require.Regexp(t, `^slow +true +2 +1 +0 +0 +0 +1 +0 +0 +0 +0 +0$`, lines[1])
	out, _, err = run(t, "queue", "resume", "slow", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "resumed\n", out)
	out, _, err = run(t, "queue", "list", "--redis", url, "--json")
	require.NoError(t, err)
	var q jobs.QueueInfo
	require.NoError(t, json.Unmarshal([]byte(out), &q))
	require.Equal(t, jobs.QueueInfo{Name: "slow", Pending: 1, Parked: 1}, q)

	_, _, err = run(t, "queue", "pause", "a:b", "--redis", url)
	require.ErrorContains(t, err, "invalid queue")
	_, _, err = run(t, "queue", "pause", "--redis", url)
	require.ErrorContains(t, err, "queue pause takes one queue name")
}

func TestScheduleList(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	f := writeConfig(t, `scheduler:
  periodic:
    - name: nightly
      spec: "30 2 * * *"
      type: doc.report
      session: reports
    - name: ping
      every: 10m
      type: ping
      queue: low
`)
	out, _, err := run(t, "schedule", "list", "--redis", url, "--config", f)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^NAME +SCHEDULE +TYPE +QUEUE +SESSION +NEXT +LAST FIRE +LAST JOB$`, lines[0])
	require.Regexp(t, `^nightly +30 2 \* \* \* +doc.report +default +reports +\d{4}-\d\d-\d\dT02:30:00Z +- +-$`, lines[1])
	require.Regexp(t, `^ping +every 10m0s +ping +low +- +\S+:[0-5]0:00Z +- +-$`, lines[2])

	for text, want := range map[string]string{
		"scheduler:\n  periodic:\n    - {name: a, every: 1m, type: t, colour: red}\n": "colour",
		"scheduler:\n  periodic:\n    - {name: a, spec: '61 * * * *', type: t}\n":     `scheduler.periodic[0]: periodic job a: cron spec "61 * * * *"`,
		"scheduler:\n  periodic:\n    - {name: a, every: 1m}\n":                       "scheduler.periodic[0]: periodic job a: invalid job type",
		"scheduler:\n  periodic:\n    - {name: a, every: soon, type: t}\n":            "invalid duration",
	} {
		_, _, err := run(t, "schedule", "list", "--redis", url, "--config", writeConfig(t, text))
		require.ErrorContains(t, err, want, text)
	}
}
