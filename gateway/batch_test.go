package gateway_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// PUT /v1/sessions/{id}/params sets and deletes in one change, all or
// nothing: a bad key anywhere leaves every parameter as it was.
func TestPutParamsSetsAndDeletesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", "read:own", "write:own")
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	path := "/v1/sessions/" + s + "/params"

	r = e.req(alice, "PUT", path, map[string]any{"params": map[string]string{"a": "1", "b": "2", "c": "3"}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	r = e.req(alice, "PUT", path, map[string]any{"params": map[string]string{"a": "10", "d": "4"}, "delete": []string{"b", "zz"}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	r = e.req(alice, "GET", path, nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, map[string]any{"a": "10", "c": "3", "d": "4"}, r.json(t)["params"])

	// All or nothing: a bad key to delete, or a key both set and deleted,
	// refuses the whole change.
	for _, body := range []map[string]any{
		{"params": map[string]string{"a": "x"}, "delete": []string{"c", "bad key"}},
		{"params": map[string]string{"a": "x"}, "delete": []string{"a"}},
	} {
		r = e.req(alice, "PUT", path, body)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
		require.Equal(t, "invalid_request", r.code(t))
	}
	r = e.req(alice, "GET", path, nil)
	require.Equal(t, map[string]any{"a": "10", "c": "3", "d": "4"}, r.json(t)["params"])
}
