package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// bearer is the status of the gateway's GET /v1/sessions with tok.
func bearer(t *testing.T, e *env, tok string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+"/v1/sessions", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

// logout logs the cookie's login out through the form.
func logout(t *testing.T, e *env, c *http.Cookie) {
	t.Helper()
	_, _, page := get(t, e, c, "/ui/sessions")
	m := csrfRe.FindStringSubmatch(page)
	require.Len(t, m, 2)
	code, _ := post(t, e, c, "/ui/logout", url.Values{"csrf": {m[1]}})
	require.Equal(t, http.StatusSeeOther, code)
}

// TestLogoutRevokes: logging out of a password login revokes its token,
// as a cookie and as a bearer token; logging out of a login made with an
// API token leaves that token to its owner.
func TestLogoutRevokes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := login(t, e, url.Values{"user": {"ops"}, "password": {"a long enough password"}})
	require.Equal(t, http.StatusOK, bearer(t, e, c.Value), "the cookie's token is a token")
	logout(t, e, c)
	code, h, _ := get(t, e, c, "/ui/sessions")
	require.Equal(t, http.StatusSeeOther, code, "the old cookie is no login")
	require.Equal(t, "/ui/login", h.Get("Location"))
	require.Equal(t, http.StatusUnauthorized, bearer(t, e, c.Value), "nor a bearer token")

	c = login(t, e, url.Values{"token": {e.admin}})
	logout(t, e, c)
	require.Equal(t, http.StatusOK, bearer(t, e, e.admin), "the operator's own token stays")
}

// TestPasswordChangeEndsDashboardLogin: a password login ends when the
// password changes.
func TestPasswordChangeEndsDashboardLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := login(t, e, url.Values{"user": {"ops"}, "password": {"a long enough password"}})
	require.NoError(t, e.users.SetPassword(context.Background(), "ops", "another long password"))
	code, _, _ := get(t, e, c, "/ui/sessions")
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, http.StatusOK, bearer(t, e, e.admin), "the operator's token is not a login")
}
