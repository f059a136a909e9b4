package gateway_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeWalkThrough runs the README's "Over HTTP" walk-through as
// written, with sh, curl, jq and a sessionq built from this tree, against
// a gateway with a worker, and compares what it prints with the "# → "
// lines.
func TestReadmeWalkThrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- walk-through: begin -->\n```sh\n(.*?)```\n<!-- walk-through: end -->").FindSubmatch(readme)
	require.NotNil(t, m, "the walk-through is in README.md")
	script := string(m[1])
	var want []string
	for _, l := range strings.Split(script, "\n") {
		if w, ok := strings.CutPrefix(l, "# → "); ok {
			w, _, _ = strings.Cut(w, "   (")
			want = append(want, strings.TrimSpace(w))
		}
	}

	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(dir, "sessionq"), "../cmd/sessionq")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	e := newEnv(t, envOptions{})
	cmd := exec.CommandContext(t.Context(), "sh", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SESSIONQ_REDIS_URL="+e.url, "SESSIONQ_API_URL="+e.base)
	out, err = cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out, stderr)
	require.Equal(t, want, strings.Split(strings.TrimSpace(string(out)), "\n"))
}
