package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// A session whose head no live worker can run says why it does not move,
// on its page and in its JSON; one whose head a worker handles does not.
func TestSessionWaitingForHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, typ := range []string{"fax.nobody", "block"} {
		_, err := e.jobs.Submit(ctx, typ, nil, jobs.Session("stuck"), jobs.ProcessIn(time.Hour))
		require.NoError(t, err)
	}
	_, err := e.jobs.Submit(ctx, "block", nil, jobs.Session("moving"), jobs.ProcessIn(time.Hour))
	require.NoError(t, err)
	c := login(t, e, url.Values{"token": {e.admin}})
	// The worker's presence is published as it starts: poll for it.
	e.eventually("the worker is seen handling block", func() bool {
		ok, err := e.jobs.Handled(ctx, "block")
		return err == nil && ok
	})

	code, _, page := get(t, e, c, "/ui/sessions/stuck")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `id="waiting-for-handler"`)
	require.Contains(t, page, "<code>fax.nobody</code> is handled by no live worker")
	code, _, body := get(t, e, c, "/ui/api/sessions/stuck")
	require.Equal(t, http.StatusOK, code)
	var v struct {
		WaitingForHandler string `json:"waitingForHandler"`
		Jobs              []struct {
			State string `json:"state"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.Equal(t, "fax.nobody", v.WaitingForHandler)
	require.Equal(t, "waiting_for_handler", v.Jobs[0].State)
	require.Equal(t, "parked", v.Jobs[1].State)

	code, _, page = get(t, e, c, "/ui/sessions/moving")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, page, `id="waiting-for-handler"`)
}
