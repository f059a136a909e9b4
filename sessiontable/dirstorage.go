package sessiontable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirStorage keeps session files in a directory, one subdirectory per
// session, for fleets whose workers share a volume. The per-file size cap
// applies; the file count and per-session byte caps are the Redis
// storage's (a shared volume has quotas of its own).
//
// A change is written to a staging directory first, then the table's guard
// checks the session and the job's fencing token (and writes its
// parameters), and only then are the files renamed into place. The window
// between the check and the last rename is a few renames long: a stale
// writer gets in only if its worker stalls in that window past the rest of
// its lease, and each file is then replaced whole, never torn.
type DirStorage struct {
	root  string
	stage string
}

var _ Storage = (*DirStorage)(nil)

// NewDirStorage returns a DirStorage under root, creating it if needed.
func NewDirStorage(root string) (*DirStorage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("sessiontable: storage directory %q: %w", root, err)
	}
	// Session IDs never start with '.', so the staging area cannot clash.
	stage := filepath.Join(abs, ".staging")
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return nil, fmt.Errorf("sessiontable: storage directory: %w", err)
	}
	return &DirStorage{root: abs, stage: stage}, nil
}

// Root is the directory the storage keeps sessions under.
func (d *DirStorage) Root() string { return d.root }

func (d *DirStorage) dir(id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	return filepath.Join(d.root, id), nil
}

func (d *DirStorage) path(id, name string) (string, error) {
	dir, err := d.dir(id)
	if err != nil {
		return "", err
	}
	if err := ValidateFileName(name); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// Files lists the regular files of the session's directory.
func (d *DirStorage) Files(_ context.Context, id string) ([]FileInfo, error) {
	dir, err := d.dir(id)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []FileInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, FileInfo{Name: e.Name(), Size: fi.Size()})
	}
	return out, nil
}

// ReadFile reads one regular file of the session.
func (d *DirStorage) ReadFile(_ context.Context, id, name string) ([]byte, error) {
	p, err := d.path(id, name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("file %q: %w", name, ErrFileNotFound)
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// ReadFiles reads every regular file of the session.
func (d *DirStorage) ReadFiles(ctx context.Context, id string) (map[string][]byte, error) {
	list, err := d.Files(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(list))
	for _, f := range list {
		b, err := d.ReadFile(ctx, id, f.Name)
		if errors.Is(err, ErrFileNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[f.Name] = b
	}
	return out, nil
}

// WriteFiles stages the new files, runs the guard, then moves them into
// place and deletes what ch deletes.
func (d *DirStorage) WriteFiles(ctx context.Context, id string, ch FileChange, guard Guard) error {
	dir, err := d.dir(id)
	if err != nil {
		return err
	}
	stage, err := os.MkdirTemp(d.stage, id+".")
	if err != nil {
		return fmt.Errorf("staging files: %w", err)
	}
	defer os.RemoveAll(stage)
	for name, data := range ch.Put {
		if err := ValidateFileName(name); err != nil {
			return err
		}
		if err := writeSynced(filepath.Join(stage, name), data); err != nil {
			return fmt.Errorf("staging files: %w", err)
		}
	}
	if err := guard(ctx, nil); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name := range ch.Put {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("moving file %q into place: %w", name, err)
		}
	}
	for _, name := range ch.Delete {
		p, err := d.path(id, name)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Purge removes the session's directory.
func (d *DirStorage) Purge(_ context.Context, id string) error {
	dir, err := d.dir(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
