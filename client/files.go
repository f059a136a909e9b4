package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/sessionq/sessionq/api"
)

// File describes a session file.
type File = api.File

func filePath(s *Session, name string) string {
	return "/v1/sessions/" + url.PathEscape(s.id) + "/files/" + url.PathEscape(name)
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty file name", ErrInvalid)
	}
	return nil
}

// PutFile writes file name of the context's session, after flushing.
func (c *Conn) PutFile(ctx context.Context, name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return err
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	if err := c.do(ctx, s, "PUT", filePath(s, name), data, nil); err != nil {
		return fmt.Errorf("writing file %q: %w", name, err)
	}
	return nil
}

// File reads file name of the context's session, after flushing.
func (c *Conn) File(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var b []byte
	if err := c.do(ctx, s, "GET", filePath(s, name), nil, &b); err != nil {
		return nil, fmt.Errorf("reading file %q: %w", name, err)
	}
	return b, nil
}

// Files lists the files of the context's session, after flushing.
func (c *Conn) Files(ctx context.Context) ([]File, error) {
	s, err := c.needSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var out api.FileList
	if err := c.do(ctx, s, "GET", "/v1/sessions/"+url.PathEscape(s.id)+"/files", nil, &out); err != nil {
		return nil, fmt.Errorf("listing files: %w", err)
	}
	return out.Files, nil
}

// DeleteFile deletes file name of the context's session, after flushing.
func (c *Conn) DeleteFile(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return err
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if err := c.do(ctx, s, "DELETE", filePath(s, name), nil, nil); err != nil {
		return fmt.Errorf("deleting file %q: %w", name, err)
	}
	return nil
}
