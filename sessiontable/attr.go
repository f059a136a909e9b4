package sessiontable

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

//go:embed lua/attr.lua
var attrLua string

var attrScript = redis.NewScript(attrLua)

// attrPrefix starts the record fields that hold attributes.
const attrPrefix = "@"

// SetAttr sets attribute name of session id to value: metadata that a
// service keeps with the session (the gateway records which connection
// user opened it). Attributes are not parameters: jobs never see them, and
// they end with the session. The idle timer is left alone. It fails with
// ErrNotFound when there is no such open session.
func (t *Table) SetAttr(ctx context.Context, id, name, value string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := ValidateParamKey(name); err != nil {
		return err
	}
	n, err := attrScript.Run(ctx, t.rdb, []string{keys.Session(id)}, attrPrefix+name, value).Int()
	if err != nil {
		return fmt.Errorf("setting attribute of session %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return nil
}

// GetAttrs is Get, plus the attributes SetAttr set.
func (t *Table) GetAttrs(ctx context.Context, id string, opts ...CallOption) (*Info, map[string]string, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return nil, nil, err
	}
	r, err := t.read(ctx, id, c, "info", "")
	if err != nil {
		return nil, nil, err
	}
	m := pairs(r[1:])
	attrs := map[string]string{}
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, attrPrefix); ok {
			attrs[name] = v
		}
	}
	return infoFromRecord(id, m), attrs, nil
}
