package cli

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// A flag given empty or blank is an error that writes nothing, never a
// silent "none": S=$(failing command); sessionq submit --session "$S" must
// not drop the session.
func TestSubmitEmptyFlagValuesRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty session", []string{"--session", ""}, `invalid session ID "": must not be empty (omit --session to submit a job without a session)`},
		{"blank session", []string{"--session", " \t"}, `(omit --session to submit a job without a session)`},
		{"empty session, short flag", []string{"-s", ""}, `invalid session ID ""`},
		{"empty application ID", []string{"--session", "s", "--application-id", ""}, `invalid application ID ""`},
		{"empty idempotency key", []string{"--idempotency-key", ""}, `invalid job ID ""`},
		{"empty queue", []string{"--queue", ""}, `invalid queue ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, url := redistest.Client(t)
			out, _, err := run(t, append([]string{"submit", "--redis", url, "--type", "t"}, tt.args...)...)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, out)
			n, err := rdb.DBSize(t.Context()).Result()
			require.NoError(t, err)
			require.Zero(t, n, "Redis was written to")
		})
	}
}

// --app still works but says it is deprecated. (Cobra prints the notice
// with OutOrStderr: standard error in the binary, where no output writer is
// set, but the test's output writer here.)
func TestSubmitAppFlagDeprecated(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, errOut, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "s", "--app", "a1")
	require.NoError(t, err)
	require.Contains(t, out+errOut, "--app has been deprecated, use --application-id")
}

// An ID with a non-ASCII character is reported with the character, never
// as a garbled byte.
func TestNonASCIIIDsReportedReadably(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	_, _, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "rapport-été")
	require.EqualError(t, err, `invalid session ID "rapport-été": character 'é' (U+00E9) at byte 8 is not allowed`)
	// A session table ID of the right length with a non-ASCII character.
	id := "sabcdefghijklmnopqrstuvwx" + "é"
	require.Len(t, id, 27)
	_, _, err = run(t, "session", "get", id, "--redis", url)
	require.ErrorContains(t, err, `character 'é' (U+00E9) at byte 25: want`)
	require.NotContains(t, err.Error(), "Ã")
}

// A misspelled section or key of sessionq.yaml is an error for every
// command, whether or not the command reads that section.
func TestConfigUnknownSectionsAndKeys(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	tests := []struct {
		name, yaml string
		args       []string
		want       string
	}{
		{"misspelled section", "workr:\n  concurrency: 3\n", []string{"submit", "--type", "t"},
			`unknown section "workr" (did you mean worker?)`},
		{"unknown section", "frobnicate: 1\n", []string{"job", "get", "j1"}, `unknown section "frobnicate" (known: client, gateway, log, redis, scheduler, session, worker)`},
		{"unknown key in a section the command does not read", "worker:\n  concurency: 3\n", []string{"session", "get", "sabcdefghijklmnopqrstuvwxyz"},
			"unknown key worker.concurency (did you mean concurrency?)"},
		{"unknown key in session", "session:\n  idle_timout: 5m\n", []string{"submit", "--type", "t"}, "unknown key session.idle_timout (did you mean idle_timeout?)"},
		{"section not a mapping", "worker: 3\n", []string{"submit", "--type", "t"}, "worker: want a mapping of keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := writeConfig(t, tt.yaml)
			out, _, err := run(t, append(tt.args, "--redis", url, "--config", file)...)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, file)
			require.Empty(t, out)
		})
	}
	// The example file is valid.
	_, _, err := run(t, "submit", "--type", "t", "--redis", url, "--config", "../../../sessionq.example.yaml")
	require.NoError(t, err)
}

// An unknown SESSIONQ_* variable gets one warning naming it; the variables
// a worker gives its exec commands do not.
func TestUnknownEnvWarned(t *testing.T) {
	_, url := redistest.Client(t)
	t.Setenv("SESSIONQ_WORKR_CONCURRENCY", "3")
	t.Setenv("SESSIONQ_FROBNICATE", "1")
	t.Setenv("SESSIONQ_JOB_ID", "j1")
	t.Setenv("SESSIONQ_SESSION_DIR", "/tmp")
	t.Setenv("SESSIONQ_WORKER_CONCURRENCY", "3")
	out, errOut, err := run(t, "submit", "--type", "t", "--redis", url)
	require.NoError(t, err)
	require.NotEmpty(t, out)
	require.Equal(t, 1, strings.Count(errOut, "SESSIONQ_WORKR_CONCURRENCY"), errOut)
	require.Contains(t, errOut, "warning: environment variable SESSIONQ_WORKR_CONCURRENCY is not a sessionq setting and is ignored (did you mean SESSIONQ_WORKER_CONCURRENCY?)")
	require.Contains(t, errOut, "warning: environment variable SESSIONQ_FROBNICATE is not a sessionq setting and is ignored\n")
	require.NotContains(t, errOut, "SESSIONQ_JOB_ID")
	require.NotContains(t, errOut, "SESSIONQ_SESSION_DIR")
	require.Equal(t, 2, strings.Count(errOut, "warning: environment variable"), errOut)
}

// A worker whose --exec command or --exec-dir cannot work refuses to
// start, with an error naming the mapping, before it connects to Redis.
func TestWorkerRefusesUnrunnableExec(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "") // a file, not a directory
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--exec", "echo=/nonexistent/bin"}, `--exec echo=/nonexistent/bin: worker: exec command "/nonexistent/bin": exec: "/nonexistent/bin": stat /nonexistent/bin: no such file or directory`},
		{[]string{"worker", "--exec", "echo=sessionq-no-such-command -x"}, `executable file not found in $PATH`},
		{[]string{"worker", "--exec", "echo=cat", "--exec-dir", "/nonexistent"}, "worker.exec_dir (--exec-dir): worker: exec working directory: stat /nonexistent: no such file or directory"},
		{[]string{"worker", "--exec", "echo=cat", "--exec-dir", file}, "is not a directory"},
		{[]string{"dev", "--exec", "echo=/nonexistent/bin"}, `--exec echo=/nonexistent/bin`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// Redis is unreachable: the check comes first.
			_, _, err := run(t, append(tt.args, "--redis", "redis://127.0.0.1:1/0")...)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// Empty and zero values are errors, never a silent default.
func TestEmptyAndZeroFlagsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--exec", "t=cat", "--queues", ""}, "worker.queues is empty: give at least one queue"},
		{[]string{"worker", "--exec", "t=cat", "--queues", "a,,b"}, `worker.queues "a,,b": a queue name is empty`},
		{[]string{"session", "create", "--idle-timeout", "0s"}, "invalid --idle-timeout 0s: must be positive (omit it for session.idle_timeout)"},
		{[]string{"session", "create", "--idle-timeout", "-1s"}, "invalid --idle-timeout -1s: must be positive"},
		{[]string{"session", "create", "--tid", ""}, `invalid --tid "": must not be empty`},
		{[]string{"session", "establish", "--create", "--owner", " "}, `invalid --owner " ": must not be empty`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			rdb, url := redistest.Client(t)
			// Were the value accepted, the worker would run until the
			// deadline instead of failing.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			r, err := execute(ctx, append(tt.args, "--redis", url)...)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, r.out.String())
			n, err := rdb.DBSize(t.Context()).Result()
			require.NoError(t, err)
			require.Zero(t, n)
		})
	}
}

func TestJobCommandSaysWhatItDoes(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "--help")
	require.NoError(t, err)
	require.Regexp(t, `job\s+List, inspect, cancel, retry and delete jobs`, out)
}

// --version names the module version, the commit and the Go version; a
// commit given at link time stands in where the toolchain stamped none.
func TestVersion(t *testing.T) {
	out, _, err := run(t, "--version")
	require.NoError(t, err)
	require.Regexp(t, `^sessionq \S+, commit \S+.*, go1\.\d+`, out)
	saved := commit
	t.Cleanup(func() { commit = saved })
	commit = "0123abcd-dirty"
	out, _, err = run(t, "--version")
	require.NoError(t, err)
	require.Contains(t, out, "commit 0123abcd, modified")
}

// dev serves its embedded Redis on a fixed port by default, says clearly
// when the address is taken, and prints the exact line to export.
func TestDevListenAddress(t *testing.T) {
	t.Parallel()
	root := NewRootCmd()
	dev, _, err := root.Find([]string{"dev"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:6380", dev.Flags().Lookup("listen").DefValue)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	_, _, err = run(t, "dev", "--listen", taken.Addr().String())
	require.EqualError(t, err, "cannot serve the embedded Redis on "+taken.Addr().String()+
		": the address is in use (another sessionq dev?); stop it, or give --listen 127.0.0.1:PORT (port 0: a free one)")
}

// dev on a Redis given with a password does not print the password.
func TestDevBannerMasksPassword(t *testing.T) {
	t.Parallel()
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	require.NoError(t, p.Client(t).ConfigSet(t.Context(), "requirepass", "right-pw-123").Err())
	r, stop := background(t, "dev", "--redis", "redis://:right-pw-123@"+p.Addr+"/0", "--shutdown-grace", "200ms")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(r.out.String(), "Press Ctrl-C") },
		"dev did not start: "+r.err.String())
	require.NoError(t, stop())
	require.Contains(t, r.out.String(), "export SESSIONQ_REDIS_URL=redis://:xxxxx@"+p.Addr+"/0   # password masked: use your own URL\n")
	require.NotContains(t, r.out.String()+r.err.String(), "right-pw-123")
}

// The secrets a deployment puts in SESSIONQ_* variables (the Helm chart's
// Redis passwords) are neither warned about nor ever printed.
func TestSecretEnvMaskedNotWarned(t *testing.T) {
	t.Setenv("SESSIONQ_REDIS_PASSWORD", "chart-secret-1")
	t.Setenv("SESSIONQ_REDIS_SENTINEL_PASSWORD", "chart-secret-2")
	_, errOut, err := run(t, "submit", "--type", "t", "--redis", "redis://127.0.0.1:chart-secret-1/0?password=x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "chart-secret")
	require.NotContains(t, errOut, "warning: environment variable")
	// A message that quotes the secret outside any URL.
	_, _, err = run(t, "submit", "--type", "t", "--redis-mode", "chart-secret-2", "--redis", "redis://127.0.0.1:1/0")
	require.EqualError(t, err, `invalid Redis mode "xxxxx": want single, cluster or sentinel`)
}
