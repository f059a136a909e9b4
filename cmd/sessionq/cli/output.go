package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// writeJSONLines writes items to w as JSON Lines: one object per line, the
// --json output of the listing commands.
func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for i, it := range items {
		if err := enc.Encode(it); err != nil {
			return fmt.Errorf("encoding item %d of %d: %w", i+1, len(items), err)
		}
	}
	return nil
}

// newTable is the tab writer of the listing commands' tables: columns two
// spaces apart. Flush it when done.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// dash is s, or "-" for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
