package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// RawJSON is a JSON value carried as it is (the OpenAPI document shows it
// as any value).
type RawJSON = json.RawMessage

// ErrBothPayloads: a request gave payload and payloadBase64 together.
var ErrBothPayloads = errors.New("api: give payload or payloadBase64, not both")

// ErrBadBase64: payloadBase64 is not standard base64.
var ErrBadBase64 = errors.New("api: payloadBase64 is not standard base64")

// EncodeData shows bytes (a payload or a result) as the protocol does: a
// compact JSON object or array (as DecodeData stores one) as that value;
// other valid UTF-8 as a JSON string of its text; anything else as base64
// in b64. Nil gives neither. DecodeData of what it gives is b exactly,
// byte for byte, when the value is written without HTML escaping.
func EncodeData(b []byte) (v RawJSON, b64 string) {
	if b == nil {
		return nil, ""
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') && utf8.Valid(b) && json.Valid(b) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil && bytes.Equal(c.Bytes(), b) {
			return RawJSON(b), ""
		}
	}
	if utf8.Valid(b) {
		s, _ := json.Marshal(string(b)) // never fails for a string
		return s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// DecodeData is the bytes a request sent: payload, any JSON value (a string
// is sent as its text, anything else as its compact JSON text), or
// payloadBase64. Neither gives nil.
func DecodeData(v RawJSON, b64 string) ([]byte, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) > 0 && b64 != "":
		return nil, ErrBothPayloads
	case b64 != "":
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, ErrBadBase64
		}
		return b, nil
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return nil, nil
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, v); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}

// ForState is j with only the fields that its state has, so that an event
// or an answer never carries what belongs to another state (a waiting job
// has no start; a running one no last error or next run; a finished one no
// next run).
func (j Job) ForState() Job {
	switch j.State {
	case StatePending, StateParked, StateWaitingForHandler:
		j.Started, j.Finished, j.Result, j.ResultBase64, j.Progress = zeroTime, zeroTime, nil, "", nil
		if j.Attempts == 0 && j.State != StateWaitingForHandler {
			j.LastError = "" // a job not yet run has no error; one waiting for a handler says why
		}
	case StateRunning:
		j.Finished, j.NextRunAt, j.LastError, j.Result, j.ResultBase64 = zeroTime, zeroTime, "", nil, ""
	case StateRetrying:
		j.Finished, j.Result, j.ResultBase64, j.Progress = zeroTime, nil, "", nil
	case StateSucceeded:
		j.NextRunAt, j.LastError = zeroTime, ""
	case StateFailed:
		j.NextRunAt, j.Result, j.ResultBase64 = zeroTime, nil, ""
	case StateCancelled:
		j.NextRunAt, j.Progress = zeroTime, nil
	}
	return j
}
