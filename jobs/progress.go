package jobs

import (
	"encoding/json"
	"time"
)

// Progress is how far a running job says it got (a Go handler's
// worker.Progress, or an exec command's lines on SESSIONQ_PROGRESS_FD).
type Progress struct {
	Done    int64     `json:"done"`
	Total   int64     `json:"total,omitempty"` // 0: unknown
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// MaxProgressMessage caps a progress message, in bytes.
const MaxProgressMessage = 256

// EncodeProgress is the stored form of p, as Get reads it back.
func EncodeProgress(p Progress) []byte {
	if len(p.Message) > MaxProgressMessage {
		p.Message = p.Message[:MaxProgressMessage]
	}
	b, _ := json.Marshal(p) // no field can fail
	return b
}

// decodeProgress reads a stored progress; nil for none or a broken one.
func decodeProgress(s string) *Progress {
	if s == "" {
		return nil
	}
	var p Progress
	if json.Unmarshal([]byte(s), &p) != nil {
		return nil
	}
	return &p
}
