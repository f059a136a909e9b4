package gateway_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// camelCase is the one casing of every JSON property name the gateway
// serves and accepts: a lower-case first letter, then letters and digits
// (no '_' or '-'); TID is spelled as the session protocol spells it.
var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// TestDocumentOneCasing walks every schema of both served documents (the
// components and every inline schema, properties recursively) and fails
// on a property name of another casing.
func TestDocumentOneCasing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	for _, path := range []string{"/openapi.json", "/openapi-3.0.json"} {
		r := e.req("", "GET", path, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		var doc any
		require.NoError(t, json.Unmarshal(r.body, &doc))
		var bad []string
		seen := 0
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if props, ok := v["properties"].(map[string]any); ok {
					for name, p := range props {
						seen++
						if name != "TID" && !camelCase.MatchString(name) {
							bad = append(bad, at+".properties."+name)
						}
						walk(at+".properties."+name, p)
					}
				}
				for k, c := range v {
					if k != "properties" {
						walk(at+"."+k, c)
					}
				}
			case []any:
				for _, c := range v {
					walk(at+"[]", c)
				}
			}
		}
		walk("", doc)
		sort.Strings(bad)
		require.Greater(t, seen, 50, "%s: the walk saw the properties", path)
		require.Empty(t, bad, "%s: property names not in camelCase", path)
	}
}

// TestPayloadRoundTrip: a payload is any JSON value or bytes, and reads
// back as it was given, in the answer and in the events.
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.user("alice", aliceRights...)
	for _, tc := range []struct {
		name string
		body map[string]any
		want string // the job's payload and result fields, as JSON
	}{
		{"object", map[string]any{"payload": map[string]any{"a": 1}}, `{"payload":{"a":1},"result":{"a":1}}`},
		{"array", map[string]any{"payload": []any{1, "x"}}, `{"payload":[1,"x"],"result":[1,"x"]}`},
		{"string", map[string]any{"payload": "hello <world>"}, `{"payload":"hello <world>","result":"hello <world>"}`},
		{"string of JSON", map[string]any{"payload": `{"a": 1}`}, `{"payload":"{\"a\": 1}","result":"{\"a\": 1}"}`},
		{"number", map[string]any{"payload": 42}, `{"payload":"42","result":"42"}`},
		{"bytes", map[string]any{"payloadBase64": "/wA="}, `{"payloadBase64":"/wA=","resultBase64":"/wA="}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"type": "echo"}
			for k, v := range tc.body {
				body[k] = v
			}
			r := e.req(alice, "POST", "/v1/jobs", body)
			require.Equal(t, http.StatusAccepted, r.status, "%s", r)
			id := r.json(t)["id"].(string)
			require.Equal(t, "succeeded", e.waitJob(alice, id)["state"])
			r = e.req(alice, "GET", "/v1/jobs/"+id, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r)
			require.JSONEq(t, tc.want, dataFields(t, r.body))
			evs := e.events(alice, "/v1/jobs/"+id+"/events", func() {})
			require.NotEmpty(t, evs)
			var ev struct{ Job json.RawMessage }
			require.NoError(t, json.Unmarshal([]byte(evs[len(evs)-1].data), &ev))
			require.JSONEq(t, tc.want, dataFields(t, ev.Job), "the event shows it as the answer")
		})
	}
}

// dataFields is the payload and result fields of a job's JSON.
func dataFields(t *testing.T, job []byte) string {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(job, &m))
	out := map[string]json.RawMessage{}
	for _, k := range []string{"payload", "payloadBase64", "result", "resultBase64"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	require.NoError(t, err)
	return string(b)
}

// TestEventsCarryTheirStateOnly: each event's job has only the fields of
// its own state: a pending one has not started and spent no attempt, a
// running one carries no earlier attempt's error or retry time.
func TestEventsCarryTheirStateOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	var id string
	evs := e.events(alice, "/v1/sessions/"+s+"/events", func() {
		r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "flaky", "maxRetry": 2}, "Sessionq-Session", s)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r)
		id = r.json(t)["id"].(string)
		require.Equal(t, "succeeded", e.waitJob(alice, id)["state"])
		require.Equal(t, http.StatusNoContent, e.req(alice, "DELETE", "/v1/sessions/"+s, nil).status)
	})
	var states []string
	for _, ev := range evs {
		if ev.name != "job" {
			continue
		}
		var je struct{ Job map[string]any }
		require.NoError(t, json.Unmarshal([]byte(ev.data), &je))
		j := je.Job
		if j["id"] != id {
			continue
		}
		st := j["state"].(string)
		states = append(states, st)
		switch st {
		case "pending", "parked":
			require.NotContains(t, j, "started", "a waiting job has not started: %s", ev.data)
			require.NotContains(t, j, "finished", "%s", ev.data)
			if len(states) == 1 {
				require.EqualValues(t, 0, j["attempts"], "a submitted job spent no attempt: %s", ev.data)
				require.NotContains(t, j, "lastError", "%s", ev.data)
			}
		case "running":
			require.NotContains(t, j, "lastError", "a running job has no error yet: %s", ev.data)
			require.NotContains(t, j, "nextRunAt", "a running job waits for no run: %s", ev.data)
			require.NotContains(t, j, "finished", "%s", ev.data)
			require.NotContains(t, j, "result", "%s", ev.data)
		case "retrying":
			// Its lastError may be gone already: a session event shows the
			// job as read when it is sent, with only this state's fields.
			require.NotContains(t, j, "finished", "%s", ev.data)
		case "succeeded":
			require.NotContains(t, j, "lastError", "%s", ev.data)
			require.NotContains(t, j, "nextRunAt", "%s", ev.data)
		}
	}
	require.Equal(t, "succeeded", states[len(states)-1], "%v", states)
	require.GreaterOrEqual(t, strings.Count(strings.Join(states, " "), "running"), 2, "two runs: %v", states)
	require.True(t, slices.Contains(states, "retrying"), "%v", states)
}

// TestHumaErrorsInTheOneShape: an error huma itself raises (a body that
// does not validate) is the one error body, 400, application/json, on
// this API, without huma's process-wide NewError replaced.
func TestHumaErrorsInTheOneShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": 1})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
	require.Equal(t, "application/json", r.hdr.Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m))
	require.Equal(t, []string{"error"}, slices.Collect(maps.Keys(m)), "%s", r.body)
	require.Equal(t, "invalid_request", r.code(t))
	require.Contains(t, m["error"].(map[string]any)["message"], "expected string")
}
