package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
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

// writeList is the one output rule of the listing commands: with asJSON,
// JSON Lines (one camelCase object per line; nothing for an empty list);
// else a table, on a terminal or not: header (columns separated by tabs),
// then one row per item, written by row. An empty list prints the header
// alone.
func writeList[T any](w io.Writer, asJSON bool, items []T, header string, row func(w io.Writer, it T)) error {
	if asJSON {
		return writeJSONLines(w, items)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		row(tw, it)
	}
	return tw.Flush()
}

// jsonFlag adds --json, the listing commands' JSON Lines switch.
func jsonFlag(cmd *cobra.Command, what string) *bool {
	return cmd.Flags().Bool("json", false, "print JSON Lines, one "+what+" per line (default: a table)")
}
