package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/redistest"
)

// --redis-mode cluster: the CLI submits, reads jobs and creates sessions on
// a real 3-node Redis Cluster.
func TestRedisModeCluster(t *testing.T) {
	t.Parallel()
	cc := redistest.Cluster(t, 3)
	addrs := cc.Options().Addrs
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	out, _, err := run(t, "submit", "--redis", url, "--redis-mode", "cluster", "--type", "t", "--session", "s1", "--payload", "p")
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	out, _, err = run(t, "job", "get", id, "--redis", url, "--redis-mode", "cluster")
	require.NoError(t, err)
	var in api.Job
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, api.StateWaitingForHandler, in.State, "no live worker handles t")
	require.Equal(t, "s1", in.SessionID)
	out, _, err = run(t, "session", "create", "--redis", url, "--redis-mode", "cluster", "--tid", "t1")
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(out))
}

func TestRedisModeErrors(t *testing.T) {
	t.Parallel()
	_, _, err := run(t, "submit", "--redis", "redis://127.0.0.1:1", "--redis-mode", "bogus", "--type", "t")
	require.ErrorContains(t, err, `invalid Redis mode "bogus"`)
	_, _, err = run(t, "submit", "--redis", "redis://127.0.0.1:1", "--redis-mode", "sentinel", "--type", "t")
	require.ErrorContains(t, err, "master_name")
}
