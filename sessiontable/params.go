package sessiontable

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// Param returns parameter k of session id: with Application(app), the
// sub-session's value, else the session's (the fallback). It fails with
// ErrParamNotFound when neither has one.
func (t *Table) Param(ctx context.Context, id, k string, opts ...CallOption) (string, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return "", err
	}
	if err := ValidateParamKey(k); err != nil {
		return "", err
	}
	r, err := t.read(ctx, id, c, "param", k)
	if err != nil {
		return "", err
	}
	v, ok := r[1].(string)
	if !ok {
		return "", fmt.Errorf("session %s: parameter %q: %w", id, k, ErrParamNotFound)
	}
	return v, nil
}

// Params returns every parameter of session id: with Application(app), the
// session's overlaid by the sub-session's.
func (t *Table) Params(ctx context.Context, id string, opts ...CallOption) (map[string]string, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return nil, err
	}
	r, err := t.read(ctx, id, c, "params", "")
	if err != nil {
		return nil, err
	}
	return overlay(pairs(r[1]), pairs(r[2])), nil
}

// overlay returns parent with app's values over it.
func overlay(parent, app map[string]string) map[string]string {
	out := maps.Clone(parent)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, app)
	return out
}

// SetParam sets parameter k of session id (of its sub-session, with
// Application(app)) to v.
func (t *Table) SetParam(ctx context.Context, id, k, v string, opts ...CallOption) error {
	return t.SetParams(ctx, id, map[string]string{k: v}, opts...)
}

// SetParams sets several parameters at once: all or none.
func (t *Table) SetParams(ctx context.Context, id string, kv map[string]string, opts ...CallOption) error {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return err
	}
	if err := t.checkParams(kv, nil); err != nil {
		return err
	}
	return t.apply(ctx, id, &change{app: c.app, set: kv, touch: !c.oos})
}

// DeleteParam deletes parameter k of session id (of its sub-session, with
// Application(app): the session's value, if any, then shows through).
// Deleting a parameter that does not exist is not an error.
func (t *Table) DeleteParam(ctx context.Context, id, k string, opts ...CallOption) error {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return err
	}
	if err := t.checkParams(nil, []string{k}); err != nil {
		return err
	}
	return t.apply(ctx, id, &change{app: c.app, del: []string{k}, touch: !c.oos})
}

// checkParams validates parameters to set and keys to delete.
func (t *Table) checkParams(set map[string]string, del []string) error {
	if len(set) > t.cfg.MaxParams {
		return &LimitError{What: "parameters", Limit: int64(t.cfg.MaxParams), Got: int64(len(set))}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if err := ValidateParamKey(k); err != nil {
			return err
		}
		if err := ValidateParamValue(set[k], t.cfg.MaxParamValue); err != nil {
			return fmt.Errorf("parameter %q: %w", k, err)
		}
	}
	for _, k := range del {
		if err := ValidateParamKey(k); err != nil {
			return err
		}
		if _, ok := set[k]; ok {
			return invalid("parameter key", k, "both set and deleted in one change")
		}
	}
	return nil
}

// change is one write to a session: parameters of one scope and files.
type change struct {
	app    string // sub-session of the parameters; "" the session's own
	set    map[string]string
	del    []string
	files  FileChange
	touch  bool   // refresh the idle timer
	token  int64  // fencing token of a job's write; 0 for an API call
	job    string // the job holding the lease, with token
	result []byte // the job's result, kept with its commit mark
}

func (c *change) empty() bool { return len(c.set) == 0 && len(c.del) == 0 && c.files.empty() }

// apply writes ch: through the storage when it has files (the storage calls
// back the guarded script), else with the script alone.
func (t *Table) apply(ctx context.Context, id string, ch *change) error {
	guard := func(ctx context.Context, files *FileChange) error { return t.write(ctx, id, ch, files) }
	if ch.files.empty() {
		return guard(ctx, nil)
	}
	return t.store.WriteFiles(ctx, id, ch.files, guard)
}

// write runs write.lua: the parameters of ch and files, in one script that
// first checks that the session is open and, for a job, that its token is
// current.
func (t *Table) write(ctx context.Context, id string, ch *change, files *FileChange) error {
	app := keys.SessionParams(id)
	if ch.app != "" {
		app = keys.SessionAppParams(id, ch.app)
	}
	tok := ""
	if ch.token > 0 {
		tok = strconv.FormatInt(ch.token, 10)
	}
	run, jobKey := ledger.WriteBackKeys(id, ch.job)
	if ch.token == 0 {
		jobKey = keys.Session(id) // unused: a change that is not a job's
	}
	args := []any{flag(ch.touch), tok, ch.job, ch.app, t.cfg.MaxParams, t.cfg.MaxApps, t.cfg.MaxFiles, t.cfg.MaxSessionBytes, ch.result}
	args = append(args, len(ch.set))
	for k, v := range ch.set {
		args = append(args, k, v)
	}
	args = append(args, len(ch.del))
	for _, k := range ch.del {
		args = append(args, k)
	}
	if files == nil {
		args = append(args, 0, 0)
	} else {
		args = append(args, len(files.Put))
		for name, data := range files.Put {
			args = append(args, name, data)
		}
		args = append(args, len(files.Delete))
		for _, name := range files.Delete {
			args = append(args, name)
		}
	}
	r, err := writeScript.Run(ctx, t.rdb, []string{
		keys.Session(id), run, keys.SessionParams(id), keys.SessionApps(id), app, keys.SessionFiles(id), jobKey,
	}, args...).Slice()
	if err != nil {
		return fmt.Errorf("writing session %s: %w", id, err)
	}
	switch word(r[0]) {
	case verdictOK:
		return nil
	case verdictGone:
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	case verdictStale:
		return fmt.Errorf("writing session %s: fencing token %d of job %s is not current: %w", id, ch.token, ch.job, ErrStale)
	case verdictLimit:
		what := map[string]string{"params": "parameters", "apps": "sub-sessions", "files": "files", "bytes": "session file bytes"}[str(r[1])]
		if ch.app != "" && str(r[1]) == "params" {
			what = "parameters of sub-session " + ch.app
		}
		return fmt.Errorf("session %s: %w", id, &LimitError{What: what, Limit: num(r[2]), Got: num(r[3])})
	}
	return fmt.Errorf("writing session %s: unexpected reply %v", id, r)
}
