package floors_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/sessionq/sessionq"

// TestInternalImportsNothingAbove fails when a non-test file of a package
// under internal/ imports a package of the module that is not under
// internal/ itself: the library's floors point down only.
func TestInternalImportsNothingAbove(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-json", module+"/internal/...").Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var bad []string
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		n++
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/internal/") {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	require.Greater(t, n, 10, "go list found too few packages under internal/")
	require.Empty(t, bad, "a package under internal/ imports one above it")
}
