package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"

	"github.com/sessionq/sessionq/api"
)

// maxParamKey is the longest parameter key the server takes.
const maxParamKey = 128

// validKey checks a parameter key as the server does: 1 to 128 bytes of
// letters, digits and . _ - : @ /, so that a bad key is refused when it is
// buffered rather than at the flush.
func validKey(k string) error {
	if k == "" || len(k) > maxParamKey {
		return fmt.Errorf("%w: parameter key: want 1 to %d bytes", ErrInvalid, maxParamKey)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '@' || c == '/') {
			return fmt.Errorf("%w: parameter key %q: want letters, digits and . _ - : @ /", ErrInvalid, k)
		}
	}
	return nil
}

func paramsPath(s *Session) string { return "/v1/sessions/" + url.PathEscape(s.id) + "/params" }

// SetParam buffers parameter k = v in the context's session; Flush (or
// any call that asks the server in that session) sends it.
func (c *Conn) SetParam(ctx context.Context, k, v string) error {
	if err := validKey(k); err != nil {
		return err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return err
	}
	b := &s.buf
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.set == nil {
		b.set = map[string]string{}
	}
	delete(b.del, k)
	b.set[k] = v
	return nil
}

// DeleteParam buffers the deletion of parameter k in the context's
// session; deleting a parameter that does not exist is not an error.
func (c *Conn) DeleteParam(ctx context.Context, k string) error {
	if err := validKey(k); err != nil {
		return err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return err
	}
	b := &s.buf
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.del == nil {
		b.del = map[string]bool{}
	}
	delete(b.set, k)
	b.del[k] = true
	return nil
}

// Param reads parameter k of the context's session: from the buffer when
// a write of k is buffered (a buffered deletion answers ErrNotFound),
// else from the server, after flushing the buffer.
func (c *Conn) Param(ctx context.Context, k string) (string, error) {
	if err := validKey(k); err != nil {
		return "", err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return "", err
	}
	s.buf.mu.Lock()
	v, set := s.buf.set[k]
	deleted := s.buf.del[k]
	s.buf.mu.Unlock()
	switch {
	case set:
		return v, nil
	case deleted:
		return "", &Error{Status: 404, Code: CodeParamNotFound, Message: "deleted in the write buffer", Op: "Param " + k}
	}
	if err := s.Flush(ctx); err != nil {
		return "", err
	}
	var out api.Param
	if err := c.do(ctx, s, "GET", paramsPath(s)+"/"+url.PathEscape(k), nil, &out); err != nil {
		return "", fmt.Errorf("reading parameter %q: %w", k, err)
	}
	return out.Value, nil
}

// Params reads every parameter of the context's session, after flushing.
func (c *Conn) Params(ctx context.Context) (map[string]string, error) {
	s, err := c.needSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var out api.Params
	if err := c.do(ctx, s, "GET", paramsPath(s), nil, &out); err != nil {
		return nil, fmt.Errorf("reading parameters: %w", err)
	}
	return out.Params, nil
}

// Flush sends the buffered writes of the context's session in one
// request, applied all or nothing by the server. On success the buffer is
// empty. When the server refuses the writes as invalid (or the session is
// gone) nothing was applied and the buffer is dropped; on any other error
// (the server unreachable) the buffer is kept for the next flush.
func (c *Conn) Flush(ctx context.Context) error { return c.sessionFor(ctx).Flush(ctx) }

// Flush sends the session's buffered writes: see Conn.Flush. A nil
// session has none.
func (s *Session) Flush(ctx context.Context) error {
	if s == nil {
		return nil
	}
	b := &s.buf
	b.mu.Lock()
	defer b.mu.Unlock() // held: writes buffered meanwhile wait, and keep their order
	if len(b.set) == 0 && len(b.del) == 0 {
		return nil
	}
	body := api.ParamsChange{Params: b.set, Delete: slices.Sorted(maps.Keys(b.del))}
	if body.Params == nil {
		body.Params = map[string]string{}
	}
	err := s.conn.do(ctx, s, "PUT", paramsPath(s), body, nil)
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
		b.set, b.del = nil, nil
	}
	if err != nil {
		return fmt.Errorf("flushing %d buffered writes of session %s: %w", len(body.Params)+len(body.Delete), s.id, err)
	}
	return nil
}

// Buffered is the number of writes buffered in the context's session.
func (c *Conn) Buffered(ctx context.Context) int {
	s := c.sessionFor(ctx)
	if s == nil {
		return 0
	}
	b := &s.buf
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.set) + len(b.del)
}
