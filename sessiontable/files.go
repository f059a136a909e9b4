package sessiontable

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

// FileInfo describes one session file.
type FileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// FileChange is one change of a session's files: whole files to write and
// files to delete. Names are valid (ValidateFileName) and a name is not in
// both.
type FileChange struct {
	Put    map[string][]byte
	Delete []string
}

func (c FileChange) empty() bool { return len(c.Put) == 0 && len(c.Delete) == 0 }

// Guard is the table's guarded write, which a Storage's WriteFiles calls
// exactly once. In one Lua script it checks that the session is open and,
// for a job's write, that the job's fencing token is still current, and
// writes the parameters of the same change. files, when not nil, are
// written by that same script into the session's Redis hash: the Redis
// storage passes its change; a storage that keeps files elsewhere passes nil
// and writes its files only after the guard returned nil. The guard returns
// an error wrapping ErrStale for a stale token and ErrNotFound
// for a session that ended; the storage must then write nothing.
type Guard func(ctx context.Context, files *FileChange) error

// Storage keeps the named files of sessions. The table validates session
// IDs, file names and sizes before it calls a Storage, and calls Purge once
// a session has ended.
type Storage interface {
	// Files lists the files of session id.
	Files(ctx context.Context, id string) ([]FileInfo, error)
	// ReadFile returns file name of session id, or an error wrapping
	// ErrFileNotFound.
	ReadFile(ctx context.Context, id, name string) ([]byte, error)
	// ReadFiles returns every file of session id.
	ReadFiles(ctx context.Context, id string) (map[string][]byte, error)
	// WriteFiles applies ch under guard (see Guard).
	WriteFiles(ctx context.Context, id string, ch FileChange, guard Guard) error
	// Purge removes every file of session id.
	Purge(ctx context.Context, id string) error
}

// PutFile writes file name of session id, replacing it if it exists.
func (t *Table) PutFile(ctx context.Context, id, name string, data []byte, opts ...CallOption) error {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return err
	}
	if err := t.checkFile(name, int64(len(data))); err != nil {
		return err
	}
	return t.apply(ctx, id, &change{files: FileChange{Put: map[string][]byte{name: data}}, touch: !c.oos})
}

// DeleteFile deletes file name of session id. Deleting a file that does not
// exist is not an error.
func (t *Table) DeleteFile(ctx context.Context, id, name string, opts ...CallOption) error {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return err
	}
	if err := ValidateFileName(name); err != nil {
		return err
	}
	return t.apply(ctx, id, &change{files: FileChange{Delete: []string{name}}, touch: !c.oos})
}

// File returns file name of session id; ErrFileNotFound when it has none.
func (t *Table) File(ctx context.Context, id, name string, opts ...CallOption) ([]byte, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return nil, err
	}
	if err := ValidateFileName(name); err != nil {
		return nil, err
	}
	if _, err := t.read(ctx, id, c, "check", ""); err != nil {
		return nil, err
	}
	b, err := t.store.ReadFile(ctx, id, name)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	return b, nil
}

// Files lists the files of session id, by name.
func (t *Table) Files(ctx context.Context, id string, opts ...CallOption) ([]FileInfo, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return nil, err
	}
	if _, err := t.read(ctx, id, c, "check", ""); err != nil {
		return nil, err
	}
	fs, err := t.store.Files(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("listing files of session %s: %w", id, err)
	}
	slices.SortFunc(fs, func(a, b FileInfo) int { return cmp.Compare(a.Name, b.Name) })
	return fs, nil
}

func (t *Table) checkFile(name string, size int64) error {
	if err := ValidateFileName(name); err != nil {
		return err
	}
	if size > t.cfg.MaxFileSize {
		return fmt.Errorf("file %q: %w", name, &LimitError{What: "file size", Limit: t.cfg.MaxFileSize, Got: size})
	}
	return nil
}

// redisStorage keeps files in the hash keys.SessionFiles(id), under the
// session's hash tag, written by the table's guarded script itself.
type redisStorage struct {
	rdb redis.UniversalClient
}

var _ Storage = (*redisStorage)(nil)

func (s *redisStorage) Files(ctx context.Context, id string) ([]FileInfo, error) {
	r, err := filesScript.Run(ctx, s.rdb, []string{keys.SessionFiles(id)}).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		out = append(out, FileInfo{Name: str(r[i]), Size: num(r[i+1])})
	}
	return out, nil
}

func (s *redisStorage) ReadFile(ctx context.Context, id, name string) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, keys.SessionFiles(id), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("file %q: %w", name, ErrFileNotFound)
	}
	return b, err
}

func (s *redisStorage) ReadFiles(ctx context.Context, id string) (map[string][]byte, error) {
	m, err := s.rdb.HGetAll(ctx, keys.SessionFiles(id)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}

// WriteFiles hands the change to the guard, whose script writes it.
func (s *redisStorage) WriteFiles(ctx context.Context, _ string, ch FileChange, guard Guard) error {
	return guard(ctx, &ch)
}

func (s *redisStorage) Purge(ctx context.Context, id string) error {
	return s.rdb.Del(ctx, keys.SessionFiles(id)).Err()
}
