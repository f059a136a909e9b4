package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A login POST from another origin (login CSRF) is refused with 403 and
// sets no cookie; a same-origin one, and a form POST without Origin from a
// non-browser client, log in.
func TestLoginRefusesCrossOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, err := url.Parse(e.base)
	require.NoError(t, err)
	loginWith := func(form url.Values, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.base+"/ui/login", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	withToken := url.Values{"token": {e.admin}}
	withPassword := url.Values{"user": {"ops"}, "password": {"a long enough password"}}
	for name, hdr := range map[string][]string{
		"other origin":          {"Origin", "https://evil.example"},
		"other port":            {"Origin", "http://" + u.Hostname() + ":1"},
		"null origin":           {"Origin", "null"},
		"cross-site fetch":      {"Sec-Fetch-Site", "cross-site"},
		"cross-site, same Host": {"Sec-Fetch-Site", "cross-site", "Origin", e.base},
	} {
		for _, form := range []url.Values{withToken, withPassword} {
			res, body := loginWith(form, hdr...)
			require.Equal(t, http.StatusForbidden, res.StatusCode, name)
			require.Empty(t, res.Cookies(), "%s: a refused login set a cookie", name)
			require.Contains(t, body, "came from another site", name)
		}
	}
	for name, hdr := range map[string][]string{
		"same origin":       {"Origin", e.base},
		"same-origin fetch": {"Sec-Fetch-Site", "same-origin", "Origin", e.base},
		"typed URL":         {"Sec-Fetch-Site", "none"},
		"no Origin":         nil,
	} {
		for _, form := range []url.Values{withToken, withPassword} {
			res, _ := loginWith(form, hdr...)
			require.Equal(t, http.StatusSeeOther, res.StatusCode, name)
			require.Len(t, res.Cookies(), 1, name)
			require.Equal(t, "sessionq_ui", res.Cookies()[0].Name, name)
		}
	}
}
