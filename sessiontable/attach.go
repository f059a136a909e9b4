package sessiontable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
)

// Environment variables an exec job gets from its session (JobSession.Env).
const (
	// EnvActive is "true" when the job's session is active, else "false".
	EnvActive = "SESSIONQ_SESSION_ACTIVE"
	// EnvSessionID is the job's session ID.
	EnvSessionID = "SESSIONQ_SESSION_ID"
	// EnvApplicationID is the job's application (sub-session) ID, or empty.
	EnvApplicationID = "SESSIONQ_APPLICATION_ID"
	// EnvDir is the directory with the session's files (empty when
	// inactive). What the job leaves there is written back on success.
	EnvDir = "SESSIONQ_SESSION_DIR"
	// EnvParams is the path of a JSON file with one object of the session's
	// parameters, keys to string values: the session's, overlaid by the
	// sub-session's (empty when inactive). A job may rewrite it; keys it
	// adds or changes are set, keys it removes are deleted, in the job's
	// sub-session when it has one, else in the session.
	EnvParams = "SESSIONQ_SESSION_PARAMS"
)

// JobSession is what a running job sees of its session. Its methods are
// safe for concurrent use, and on a nil *JobSession (a job without a
// session, or a worker without the table) they report an inactive session.
type JobSession struct {
	mu       sync.Mutex
	active   bool
	id, app  string
	dir      string // files, or "" when inactive
	params   string // parameters file, or "" when inactive
	parent   map[string]string
	sub      map[string]string // the sub-session's; nil without an app
	maxValue int
}

type jobSessionKey struct{}

// FromContext returns the session view of the job whose handler context
// ctx is, or nil when the job has no session.
func FromContext(ctx context.Context) *JobSession {
	js, _ := ctx.Value(jobSessionKey{}).(*JobSession)
	return js
}

// Active reports whether the job runs in an open session. A job whose
// session ID names no session (or one that closed or expired before it
// started) runs inactive: no files, no parameters.
func (j *JobSession) Active() bool { return j != nil && j.active }

// ID is the job's session ID.
func (j *JobSession) ID() string {
	if j == nil {
		return ""
	}
	return j.id
}

// AppID is the job's application (sub-session) ID, or "".
func (j *JobSession) AppID() string {
	if j == nil {
		return ""
	}
	return j.app
}

// Dir is a local directory holding the session's files, or "" when the
// session is not active. Files the job writes, changes or removes there
// are written back to the session when it succeeds. Names are flat: a
// subdirectory or a link there fails the job's commit.
func (j *JobSession) Dir() string {
	if j == nil {
		return ""
	}
	return j.dir
}

// ParamsFile is the path of the parameters file (see EnvParams), or "".
func (j *JobSession) ParamsFile() string {
	if j == nil {
		return ""
	}
	return j.params
}

// Param returns parameter k: the sub-session's value, else the session's.
func (j *JobSession) Param(k string) (string, bool) {
	if !j.Active() {
		return "", false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if v, ok := j.sub[k]; ok {
		return v, true
	}
	v, ok := j.parent[k]
	return v, ok
}

// Params returns every parameter, the sub-session's over the session's.
func (j *JobSession) Params() map[string]string {
	if !j.Active() {
		return map[string]string{}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return overlay(j.parent, j.sub)
}

// scope is the map the job writes: its sub-session's, else the session's.
// Call with mu held.
func (j *JobSession) scope() map[string]string {
	if j.app != "" {
		return j.sub
	}
	return j.parent
}

// SetParam sets parameter k, in the job's sub-session when it has one. It is
// written to the session when the job succeeds.
func (j *JobSession) SetParam(k, v string) error {
	if !j.Active() {
		return ErrInactive
	}
	if err := ValidateParamKey(k); err != nil {
		return err
	}
	if err := ValidateParamValue(v, j.maxValue); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.scope()[k] = v
	return nil
}

// DeleteParam deletes parameter k, from the job's sub-session when it has
// one (the session's value, if any, then shows through). It is written to
// the session when the job succeeds.
func (j *JobSession) DeleteParam(k string) error {
	if !j.Active() {
		return ErrInactive
	}
	if err := ValidateParamKey(k); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.scope(), k)
	return nil
}

// Env is the session's environment for a command the job runs (see the
// Env* constants). All of them are always set, empty when they do not
// apply, so that nothing leaks in from the worker's own environment.
func (j *JobSession) Env() []string {
	return []string{
		EnvActive + "=" + strconv.FormatBool(j.Active()),
		EnvSessionID + "=" + j.ID(),
		EnvApplicationID + "=" + j.AppID(),
		EnvDir + "=" + j.Dir(),
		EnvParams + "=" + j.ParamsFile(),
	}
}

// JobRef is what Attach needs to know of one run of a session job.
type JobRef struct {
	ID        string // the job's ID
	SessionID string // the job's session ID; "" for a job without one
	AppID     string // its application sub-session, or ""
	// Active is what the worker learnt when it took the lease: the session
	// record existed. When false, Attach makes no round trip.
	Active       bool
	OutOfSession bool  // the job does not refresh the idle timer
	Backlog      int64 // the session's unfinished jobs, this one included
	// FencingToken is the run's lease token: the write-back is refused
	// (ErrStale) unless it is still the session's current one.
	FencingToken int64
}

// Attach gives one run of a session job its view of the session: when the
// session is open, its files in a new local directory and its parameters,
// refreshing its idle timer unless the job is out-of-session. When it is
// not open (any more), the run is inactive: Attachment.Active says which.
// The returned context carries the view (FromContext). Attach also notes
// the session's backlog for hot-session detection. The worker package
// adapts it to worker.Attacher (worker.SessionTable).
func (t *Table) Attach(ctx context.Context, job JobRef) (context.Context, *Attachment, error) {
	js := &JobSession{id: job.SessionID, app: job.AppID, maxValue: t.cfg.MaxParamValue}
	a := &Attachment{t: t, job: job, js: js}
	ctx = context.WithValue(ctx, jobSessionKey{}, js)
	if job.SessionID == "" {
		return ctx, a, nil
	}
	if !job.Active {
		// The worker found no record when it took the lease: the ID names
		// no session (IDs are only ever made by Create), or the session
		// ended. Nothing to load, no round trip.
		t.noteBacklog(ctx, job.SessionID, job.Backlog)
		return ctx, a, nil
	}
	r, err := t.read(ctx, job.SessionID, call{app: job.AppID, oos: job.OutOfSession}, "load", "")
	if errors.Is(err, ErrNotFound) {
		t.noteBacklog(ctx, job.SessionID, num(r[1]))
		return ctx, a, nil
	}
	if err != nil {
		return nil, nil, err
	}
	t.noteBacklog(ctx, job.SessionID, num(r[3]))
	js.parent = pairs(r[1])
	if job.AppID != "" {
		js.sub = pairs(r[2])
	}
	if err := a.materialize(ctx); err != nil {
		_ = a.Close()
		return nil, nil, fmt.Errorf("attaching session %s: %w", job.SessionID, err)
	}
	js.active = true
	return ctx, a, nil
}

// Attachment is one job run's view of its session, made by Attach. Close
// it when the run ends.
type Attachment struct {
	t    *Table
	job  JobRef
	js   *JobSession
	root string              // temporary directory: files/ and params.json
	sums map[string][32]byte // files as materialized
	// what the parameters file said when it was written
	paramsSum [32]byte
	effective map[string]string
	// the job's scope as loaded
	orig map[string]string
}

// Active reports whether the run sees an open session.
func (a *Attachment) Active() bool { return a.js.Active() }

// materialize writes the session's files and parameters file into a new
// temporary directory.
func (a *Attachment) materialize(ctx context.Context) error {
	files, err := a.t.store.ReadFiles(ctx, a.js.id)
	if err != nil {
		return fmt.Errorf("reading files: %w", err)
	}
	a.root, err = os.MkdirTemp(a.t.cfg.TempDir, "sessionq-")
	if err != nil {
		return err
	}
	dir := filepath.Join(a.root, "files")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	a.sums = make(map[string][32]byte, len(files))
	for name, data := range files {
		if ValidateFileName(name) != nil {
			continue // never written by the table
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
		a.sums[name] = sha256.Sum256(data)
	}
	a.effective = overlay(a.js.parent, a.js.sub)
	b, err := json.MarshalIndent(a.effective, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	params := filepath.Join(a.root, "params.json")
	if err := os.WriteFile(params, b, 0o600); err != nil {
		return err
	}
	a.paramsSum = sha256.Sum256(b)
	if a.js.app != "" {
		a.orig = maps.Clone(a.js.sub)
	} else {
		a.orig = maps.Clone(a.js.parent)
	}
	a.js.dir, a.js.params = dir, params
	return nil
}

// Commit writes back what the job changed: files in its directory,
// parameters set through the JobSession or the parameters file. It runs one
// guarded script that refuses the change, with an error wrapping ErrStale,
// unless the job's fencing token is still the session's current one, and
// that marks the job committed with its result, so that the ledger never
// runs it again (see write.lua). A session that ended while the job ran
// takes no changes; that is logged, not an error. Output the table cannot
// take (an invalid name, a subdirectory, a file too large) is an error
// wrapping ErrBadOutput or ErrLimit, and writes nothing.
func (a *Attachment) Commit(ctx context.Context, result []byte) error {
	if !a.js.Active() {
		return nil
	}
	ch, err := a.changes()
	if err != nil {
		return fmt.Errorf("session %s: %w: %w", a.js.id, ErrBadOutput, err)
	}
	if ch.empty() {
		return nil
	}
	if a.job.FencingToken <= 0 {
		return fmt.Errorf("session %s: job %s has no fencing token: %w", a.js.id, a.job.ID, ErrStale)
	}
	ch.app, ch.touch, ch.token, ch.job, ch.result = a.js.app, !a.job.OutOfSession, a.job.FencingToken, a.job.ID, result
	err = a.t.apply(ctx, a.js.id, ch)
	if errors.Is(err, ErrNotFound) {
		a.t.log.Warn("session ended while its job ran; the job's changes are dropped", "session", a.js.id, "job", a.job.ID)
		return nil
	}
	return err
}

// changes computes what the job changed.
func (a *Attachment) changes() (*change, error) {
	ch := &change{}
	put, del, err := a.fileChanges()
	if err != nil {
		return nil, err
	}
	ch.files = FileChange{Put: put, Delete: del}

	a.js.mu.Lock()
	defer a.js.mu.Unlock()
	scope := a.js.scope()
	if err := a.paramsFileChanges(scope); err != nil {
		return nil, err
	}
	for k, v := range scope {
		if old, ok := a.orig[k]; !ok || old != v {
			if ch.set == nil {
				ch.set = map[string]string{}
			}
			ch.set[k] = v
		}
	}
	for k := range a.orig {
		if _, ok := scope[k]; !ok {
			ch.del = append(ch.del, k)
		}
	}
	slices.Sort(ch.del)
	if err := a.t.checkParams(ch.set, ch.del); err != nil {
		return nil, err
	}
	return ch, nil
}

// fileChanges diffs the job's directory against what was materialized.
func (a *Attachment) fileChanges() (map[string][]byte, []string, error) {
	ents, err := os.ReadDir(a.js.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the session directory: %w", err)
	}
	put := map[string][]byte{}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		name := e.Name()
		if err := ValidateFileName(name); err != nil {
			return nil, nil, err
		}
		if !e.Type().IsRegular() {
			return nil, nil, invalid("file", name, "not a regular file: session files are flat, without directories or links")
		}
		seen[name] = true
		fi, err := e.Info()
		if err != nil {
			return nil, nil, err
		}
		if err := a.t.checkFile(name, fi.Size()); err != nil {
			return nil, nil, err
		}
		data, err := os.ReadFile(filepath.Join(a.js.dir, name))
		if err != nil {
			return nil, nil, err
		}
		if int64(len(data)) > a.t.cfg.MaxFileSize { // grew since Info
			return nil, nil, a.t.checkFile(name, int64(len(data)))
		}
		if sum, ok := a.sums[name]; !ok || sum != sha256.Sum256(data) {
			put[name] = data
		}
	}
	var del []string
	for name := range a.sums {
		if !seen[name] {
			del = append(del, name)
		}
	}
	slices.Sort(del)
	return put, del, nil
}

// paramsFileChanges applies to scope what the job changed in the
// parameters file. A file removed or left alone changes nothing.
func (a *Attachment) paramsFileChanges(scope map[string]string) error {
	f, err := os.Open(a.js.params)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	limit := int64(a.t.cfg.MaxParams)*int64(a.t.cfg.MaxParamValue+MaxParamKeyLen+8)*2 + 4096
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > limit {
		return &LimitError{What: "parameters file size", Limit: limit, Got: int64(len(b))}
	}
	if sha256.Sum256(b) == a.paramsSum {
		return nil
	}
	now, err := ParseParamsFile(b, a.t.cfg.MaxParamValue)
	if err != nil {
		return err
	}
	for k, v := range now {
		if old, ok := a.effective[k]; !ok || old != v {
			scope[k] = v
		}
	}
	for k := range a.effective {
		if _, ok := now[k]; !ok {
			delete(scope, k)
		}
	}
	return nil
}

// ParseParamsFile reads a parameters file (see EnvParams): one JSON object
// of string values, with valid keys and values of at most maxValue bytes.
func ParseParamsFile(b []byte, maxValue int) (map[string]string, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("parameters file", string(b), "want one JSON object of string values: "+err.Error())
	}
	if raw == nil {
		return nil, invalid("parameters file", string(b), "want one JSON object of string values, not null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("parameters file", string(b), "trailing data after the JSON object")
	}
	out := make(map[string]string, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if err := ValidateParamKey(k); err != nil {
			return nil, err
		}
		var v string
		if len(raw[k]) == 0 || raw[k][0] != '"' || json.Unmarshal(raw[k], &v) != nil {
			return nil, invalid("parameters file", k, "value is not a JSON string")
		}
		if err := ValidateParamValue(v, maxValue); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// Env is the session's environment for an exec job (JobSession.Env).
func (a *Attachment) Env() []string { return a.js.Env() }

// Close removes the job's directory.
func (a *Attachment) Close() error {
	if a.root == "" {
		return nil
	}
	err := os.RemoveAll(a.root)
	a.root = ""
	return err
}
