package cli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// The defaults of the configuration are the owning packages' own: a
// default restated here would drift from the library's.
func TestDefaultsAreTheOwners(t *testing.T) {
	t.Parallel()
	owners := map[string]any{
		"redis.wait_timeout":            durable.DefaultTimeout,
		"client.max_payload":            jobs.DefaultMaxPayload,
		"client.retention":              jobs.DefaultRetention,
		"worker.concurrency":            worker.DefaultConcurrency,
		"worker.queues":                 []string{jobs.DefaultQueue},
		"worker.lease":                  worker.DefaultLease,
		"worker.shutdown_grace":         worker.DefaultShutdownGrace,
		"worker.retention":              worker.DefaultRetention,
		"worker.repair_interval":        scheduler.DefaultInterval,
		"worker.exec_stderr_log":        worker.DefaultExecStderrLog,
		"scheduler.interval":            scheduler.DefaultInterval,
		"scheduler.dispatch_grace":      scheduler.DefaultDispatchGrace,
		"gateway.addr":                  gateway.DefaultAddr,
		"gateway.login_rate":            gateway.DefaultLoginRate,
		"gateway.login_failure_ceiling": gateway.DefaultLoginFailureCeiling,
		"gateway.login_token_ttl":       gateway.DefaultLoginTokenTTL,
		"gateway.max_streams":           gateway.DefaultMaxStreams,
		"gateway.max_streams_per_user":  gateway.DefaultMaxStreamsPerUser,
	}
	for k, want := range owners {
		require.Contains(t, configKeys, k)
		require.Equal(t, want, configKeys[k], "configKeys[%q]", k)
	}
	session := map[string]any{
		"session.idle_timeout":      sessiontable.DefaultIdleTimeout,
		"session.max_idle_timeout":  sessiontable.DefaultMaxIdleTimeout,
		"session.max_lifetime":      sessiontable.DefaultMaxLifetime,
		"session.max_per_owner":     sessiontable.DefaultMaxSessionsPerOwner,
		"session.max_file_size":     int64(sessiontable.DefaultMaxFileSize),
		"session.max_session_bytes": int64(sessiontable.DefaultMaxSessionBytes),
		"session.hot_backlog":       sessiontable.DefaultHotBacklog,
		"session.max_backlog":       jobs.DefaultMaxBacklog,
	}
	for k, want := range session {
		require.Contains(t, sessionKeys, k)
		require.Equal(t, want, sessionKeys[k], "sessionKeys[%q]", k)
	}
	require.Equal(t, worker.ExecEnvNames(), jobEnv, "the exec protocol's variables are the worker's")
}
