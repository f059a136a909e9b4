package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// readSSE calls f for each event of r until r ends or f returns false.
// It returns the read error (io.EOF at a clean end).
func readSSE(r io.Reader, f func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				if !f(ev) {
					return nil
				}
			}
			ev, data = sseEvent{id: ev.id}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // comment
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "id":
			ev.id = value
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

// stream opens an event stream at path in session s (nil: none). The
// answer's body is the caller's to close.
func (c *Conn) stream(ctx context.Context, s *Session, path string, hdr ...string) (*http.Response, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	res, err := c.send(ctx, s, "GET", path, "", nil, append([]string{"Accept", "text/event-stream"}, hdr...))
	if err != nil {
		return nil, err
	}
	if err := answerErr("GET", path, res); err != nil {
		res.Body.Close()
		return nil, err
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		res.Body.Close()
		return nil, fmt.Errorf("GET %s: %w: answer is %q, not an event stream", path, ErrUnavailable, ct)
	}
	return res, nil
}
