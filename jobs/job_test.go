package jobs_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// Payloads and results read as text in JSON when they are text, and
// survive a round trip when they are not.
func TestDataJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(jobs.Info{ID: "j", Payload: jobs.Data(`{"page":1}`), Result: jobs.Data{0xff, 0x00}})
	require.NoError(t, err)
	require.Contains(t, string(b), `"payload":"{\"page\":1}"`)
	require.Contains(t, string(b), `"result":{"base64":"/wA="}`)
	var back jobs.Info
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, jobs.Data{0xff, 0x00}, back.Result)
	require.Equal(t, jobs.Data(`{"page":1}`), back.Payload)
	require.Error(t, json.Unmarshal([]byte(`{"result": 5}`), &back))
}
