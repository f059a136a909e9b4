package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// A password in a Redis URL never reaches stdout, stderr, logs or the
// error, whatever is wrong with the URL and whichever command reads it.
func TestRedisPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-pw"
	// A real Redis that wants a password, given a wrong one.
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	rdb := p.Client(t)
	require.NoError(t, rdb.ConfigSet(t.Context(), "requirepass", "right-pw").Err())

	cfgFile := filepath.Join(t.TempDir(), "sessionq.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("redis:\n  url: redis://u:"+pw+"@127.0.0.1:bad/0\n"), 0o600))

	tests := []struct {
		name string
		args []string
		want string // part of the error
	}{
		{"malformed port", []string{"submit", "--type", "t", "--redis", "redis://u:" + pw + "@127.0.0.1:notaport/0"}, `invalid Redis URL "redis://u:xxxxx@127.0.0.1:notaport/0"`},
		{"password as port (no @)", []string{"submit", "--type", "t", "--redis", "redis://h:" + pw + "/0"}, "invalid Redis URL"},
		{"bad database", []string{"job", "get", "j1", "--redis", "redis://:" + pw + "@127.0.0.1:6379/abc"}, "invalid database number"},
		{"bad scheme", []string{"submit", "--type", "t", "--redis", "http://u:" + pw + "@127.0.0.1"}, "invalid URL scheme"},
		{"unknown option", []string{"worker", "--exec", "t=cat", "--redis", "redis://:" + pw + "@127.0.0.1/0?passwrd=" + pw}, "unexpected option"},
		{"wrong password", []string{"submit", "--type", "t", "--log-level", "debug", "--redis", "redis://:" + pw + "@" + p.Addr + "/0"}, "cannot reach Redis"},
		{"unreachable", []string{"scheduler", "--log-level", "debug", "--redis", "redis://u:" + pw + "@127.0.0.1:1/0"}, "cannot reach Redis at 127.0.0.1:1"},
		{"cluster unreachable", []string{"submit", "--type", "t", "--redis-mode", "cluster", "--redis", "redis://u:" + pw + "@127.0.0.1:1?addr=127.0.0.1:2"}, "cannot reach Redis (cluster) at redis://u:xxxxx@127.0.0.1:1?addr=127.0.0.1:2"},
		{"cluster malformed", []string{"submit", "--type", "t", "--redis-mode", "cluster", "--redis", "redis://u:" + pw + "@127.0.0.1:x?addr=127.0.0.1:2"}, "invalid Redis Cluster URL"},
		{"sentinel without master", []string{"submit", "--type", "t", "--redis-mode", "sentinel", "--redis", "redis://:" + pw + "@127.0.0.1:1?password=" + pw}, "give the master as ?master_name=NAME"},
		{"sentinel unreachable", []string{"submit", "--type", "t", "--redis-mode", "sentinel", "--redis", "redis://:" + pw + "@127.0.0.1:1?master_name=m&password=" + pw + "2"}, "cannot reach Redis (sentinel)"},
		{"dev with a Redis given", []string{"dev", "--redis", "redis://u:" + pw + "@127.0.0.1:1/0"}, "cannot reach Redis"},
		{"bench with a Redis given", []string{"bench", "--redis", "redis://u:" + pw + "@127.0.0.1:port/0"}, "invalid Redis URL"},
		{"config file", []string{"submit", "--type", "t", "--config", cfgFile}, "invalid Redis URL"},
		{"bad flag value", []string{"submit", "--type", "t", "--redis", "redis://u:" + pw + "@h/0", "--max-retry", "redis://u:" + pw + "@h/0"}, `invalid argument "redis://u:xxxxx@h/0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, err := run(t, tt.args...)
			require.Error(t, err)
			require.ErrorContains(t, err, tt.want)
			for what, text := range map[string]string{"error": err.Error(), "stdout": out, "stderr": errOut} {
				require.False(t, strings.Contains(text, pw), "%s shows the password: %s", what, text)
			}
		})
	}
}
