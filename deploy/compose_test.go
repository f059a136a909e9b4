package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// composeFile is the repository's compose file, from this module's directory.
const composeFile = "../docker-compose.yml"

// loadCompose loads docker-compose.yml as `docker compose` would, with
// compose-go's loader (interpolation, anchors and merge keys, validation
// against the compose schema).
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(composeFile)
	require.NoError(t, err)
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithName("sessionq"),
		cli.WithWorkingDirectory(filepath.Dir(abs)),
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(t.Context())
	require.NoError(t, err, "loading %s", composeFile)
	return p
}

// sessionqServices are the services that run the sessionq image, with the
// subcommand each runs.
var sessionqServices = map[string]string{
	"worker-1":  "worker",
	"worker-2":  "worker",
	"worker-3":  "worker",
	"scheduler": "scheduler",
	"gateway":   "serve",
}

// flagValue returns the value after flag in args ("--flag value" or
// "--flag=value"), and whether it was there.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	names := p.ServiceNames()
	slices.Sort(names)
	require.Equal(t, []string{"gateway", "redis", "scheduler", "worker-1", "worker-2", "worker-3"}, names)

	// Redis keeps an append-only file on a volume.
	redis := p.Services["redis"]
	require.Equal(t, "redis-server", redis.Command[0])
	aof, ok := flagValue(redis.Command, "--appendonly")
	require.True(t, ok && aof == "yes", "redis runs with --appendonly yes: %v", redis.Command)
	fsync, _ := flagValue(redis.Command, "--appendfsync")
	require.Contains(t, []string{"everysec", "always"}, fsync)
	require.True(t, slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/data" && v.Type == types.VolumeTypeVolume }),
		"redis keeps /data on a named volume")
	require.NotNil(t, redis.HealthCheck)
	require.Equal(t, types.HealthCheckTest{"CMD", "redis-cli", "ping"}, redis.HealthCheck.Test)

	for name, sub := range sessionqServices {
		s := p.Services[name]
		require.Equal(t, sub, s.Command[0], "%s runs sessionq %s", name, sub)
		require.Equal(t, "sessionq:local", s.Image, name)
		require.NotNil(t, s.Build, name)
		require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile, name)
		require.NotNil(t, s.Environment["SESSIONQ_REDIS_URL"], name)
		require.Equal(t, "redis://redis:6379/0", *s.Environment["SESSIONQ_REDIS_URL"], name)

		dep, ok := s.DependsOn["redis"]
		require.True(t, ok, "%s depends on redis", name)
		require.Equal(t, types.ServiceConditionHealthy, dep.Condition, name)

		// The healthcheck asks the address the service listens on.
		listen := "--metrics-addr"
		if sub == "serve" {
			listen = "--addr"
		}
		addr, ok := flagValue(s.Command, listen)
		require.True(t, ok, "%s has %s", name, listen)
		require.True(t, strings.HasPrefix(addr, "0.0.0.0:"), "%s listens on every interface of its container: %s", name, addr)
		port := strings.TrimPrefix(addr, "0.0.0.0:")
		require.NotNil(t, s.HealthCheck, name)
		require.Equal(t, types.HealthCheckTest{"CMD", "sessionq", "health", "--url", "http://127.0.0.1:" + port + "/readyz"}, s.HealthCheck.Test, name)
		require.NotNil(t, s.HealthCheck.Interval, name)
		require.NotNil(t, s.HealthCheck.Retries, name)
	}

	// Workers: exec mappings, and a stop grace above the shutdown grace.
	for _, name := range []string{"worker-1", "worker-2", "worker-3"} {
		w := p.Services[name]
		var execs []string
		for i, a := range w.Command {
			if a == "--exec" {
				execs = append(execs, w.Command[i+1])
			}
		}
		require.Equal(t, []string{"echo=cat", "doc.upper=tr a-z A-Z"}, execs, name)
		grace, err := time.ParseDuration(*w.Environment["SESSIONQ_WORKER_SHUTDOWN_GRACE"])
		require.NoError(t, err)
		require.NotNil(t, w.StopGracePeriod, name)
		require.Greater(t, time.Duration(*w.StopGracePeriod), grace, "%s: stop_grace_period above the shutdown grace", name)
	}

	// The gateway's port is published, on the host's loopback.
	gw := p.Services["gateway"]
	require.Len(t, gw.Ports, 1)
	require.Equal(t, uint32(8080), gw.Ports[0].Target)
	require.Equal(t, "8080", gw.Ports[0].Published)
	require.Equal(t, "127.0.0.1", gw.Ports[0].HostIP)
}
