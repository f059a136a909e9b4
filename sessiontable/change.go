package sessiontable

import "context"

// ChangeParams sets the parameters of set and deletes the keys of del in
// session id (in its sub-session, with Application(app)), all in one
// script: either every change is made or none is. A key may not be both
// set and deleted. It is what a client's buffered writes flush to.
func (t *Table) ChangeParams(ctx context.Context, id string, set map[string]string, del []string, opts ...CallOption) error {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return err
	}
	if len(del) > t.cfg.MaxParams {
		return &LimitError{What: "parameters to delete", Limit: int64(t.cfg.MaxParams), Got: int64(len(del))}
	}
	if err := t.checkParams(set, del); err != nil {
		return err
	}
	return t.apply(ctx, id, &change{app: c.app, set: set, del: del, touch: !c.oos})
}
