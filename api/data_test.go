package api_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
)

func TestDataRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string // as sent in "payload"
		b64     string
		bytes   []byte // what the job gets
		shown   string // how it reads back, as JSON ("" for base64)
	}{
		{name: "object", payload: `{"a": 1}`, bytes: []byte(`{"a":1}`), shown: `{"a":1}`},
		{name: "array", payload: `[1,2]`, bytes: []byte(`[1,2]`), shown: `[1,2]`},
		{name: "string", payload: `"hello"`, bytes: []byte("hello"), shown: `"hello"`},
		{name: "string of JSON text", payload: `"{\"a\":1}"`, bytes: []byte(`{"a":1}`), shown: `{"a":1}`},
		{name: "number", payload: `42`, bytes: []byte("42"), shown: `"42"`},
		{name: "bytes", b64: "/wA=", bytes: []byte{0xff, 0}},
		{name: "none", bytes: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := api.DecodeData(api.RawJSON(tc.payload), tc.b64)
			require.NoError(t, err)
			require.Equal(t, tc.bytes, b)
			v, b64 := api.EncodeData(b)
			if tc.b64 != "" {
				require.Nil(t, v)
				require.Equal(t, tc.b64, b64)
				return
			}
			require.Empty(t, b64)
			if tc.shown == "" {
				require.Nil(t, v)
				return
			}
			require.JSONEq(t, tc.shown, string(v))
		})
	}
}

// Bytes read back exactly as they were sent: as a string or base64, they
// come back from what EncodeData shows.
func TestDataBytesExact(t *testing.T) {
	for _, b := range [][]byte{[]byte(`{"a": 1}`), []byte(`{"a":1}`), []byte(" [1]"), []byte(`[1,2]`),
		[]byte("text"), []byte(""), {0xff, 0}, []byte(`{"s":"<&>"}`), []byte("{\"a\":\"\xff\"}")} {
		v, b64 := api.EncodeData(b)
		got, err := api.DecodeData(v, b64)
		require.NoError(t, err)
		require.Equal(t, b, got, "bytes %q shown as %s %q", b, v, b64)
	}
}

func TestDataRefusals(t *testing.T) {
	_, err := api.DecodeData(api.RawJSON(`"x"`), "eA==")
	require.ErrorIs(t, err, api.ErrBothPayloads)
	_, err = api.DecodeData(nil, "not base64!")
	require.ErrorIs(t, err, api.ErrBadBase64)
}

// Each state shows only its own fields.
func TestForState(t *testing.T) {
	now := time.Now()
	full := api.Job{ID: "j", Attempts: 1, LastError: "boom", Started: now, Finished: now, NextRunAt: now,
		Result: api.RawJSON(`"r"`), Progress: &api.Progress{Done: 1}}
	for state, want := range map[api.JobState][]string{
		api.StatePending:   {"attempts", "lastError", "nextRunAt"},
		api.StateRunning:   {"attempts", "started", "progress"},
		api.StateRetrying:  {"attempts", "lastError", "started", "nextRunAt"},
		api.StateSucceeded: {"attempts", "started", "finished", "result", "progress"},
		api.StateFailed:    {"attempts", "lastError", "started", "finished", "progress"},
		api.StateCancelled: {"attempts", "lastError", "started", "finished", "result"},
	} {
		j := full
		j.State = state
		b, err := json.Marshal(j.ForState())
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		delete(m, "id")
		delete(m, "state")
		delete(m, "type")
		delete(m, "queue")
		delete(m, "maxRetry")
		got := []string{}
		for k := range m {
			got = append(got, k)
		}
		require.ElementsMatch(t, want, got, "state %s", state)
	}
	first := api.Job{State: api.StatePending, LastError: "stale"}
	require.Empty(t, first.ForState().LastError, "a first pending has no last error")
	waiting := api.Job{State: api.StateWaitingForHandler, LastError: "handed back unopened"}
	require.Equal(t, waiting.LastError, waiting.ForState().LastError, "a job waiting for a handler says why")
}

func FuzzDecodeData(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `"x"`, `null`, `[`, `"\ud800"`, ``} {
		f.Add(s, "")
	}
	f.Add("", "/wA=")
	f.Fuzz(func(t *testing.T, payload, b64 string) {
		b, err := api.DecodeData(api.RawJSON(payload), b64)
		if err != nil {
			return
		}
		v, enc := api.EncodeData(b)
		if b != nil && v == nil && enc == "" {
			t.Fatalf("bytes %q show as nothing", b)
		}
		if v != nil && !json.Valid(v) {
			t.Fatalf("bytes %q show as invalid JSON %q", b, v)
		}
		back, err := api.DecodeData(v, enc)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("bytes %q show as %q %q and read back as %q (%v)", b, v, enc, back, err)
		}
	})
}
