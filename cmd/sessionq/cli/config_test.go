package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// probeConfig runs a "probe" command with the worker and scheduler flags
// and returns the configuration it read. It changes the package's command
// list, so tests that use it must not be parallel (sequential tests never
// overlap parallel ones).
func probeConfig(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	var got *Config
	probe := func(e *env) *cobra.Command {
		cmd := &cobra.Command{
			Use: "probe",
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := e.bindFlags(cmd, workerFlagKeys); err != nil {
					return err
				}
				if err := e.bindFlags(cmd, schedulerFlagKeys); err != nil {
					return err
				}
				c, err := e.config()
				got = c
				return err
			},
		}
		addWorkerFlags(cmd.Flags())
		addSchedulerFlags(cmd.Flags())
		return cmd
	}
	// A root of its own: the package's command list is read by parallel
	// tests, so it is never changed (changing it was a data race).
	root := newRootCmd(append(slices.Clip(commands), probe))
	_, err := executeRoot(t.Context(), root, append([]string{"probe"}, args...)...)
	return got, err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sessionq.yaml")
	require.NoError(t, os.WriteFile(f, []byte(text), 0o600))
	return f
}

func TestConfigDefaults(t *testing.T) {
	c, err := probeConfig(t)
	require.NoError(t, err)
	require.Equal(t, "redis://127.0.0.1:6379/0", c.Redis.URL)
	require.Equal(t, 10, c.Worker.Concurrency)
	require.Equal(t, []string{"default"}, c.Worker.Queues)
	require.Equal(t, 10*time.Second, c.Worker.Lease)
	require.Equal(t, 2*time.Second, c.Scheduler.Interval)
	require.Empty(t, c.Worker.Exec)
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
redis:
  url: redis://file:6379/1
worker:
  concurrency: 5
  lease: 3s
  shutdown_grace: 1m
  queues: [f1, f2]
  exec:
    - "a=cat"
    - "b=sh -c 'tr a,b c'"
scheduler:
  interval: 750ms
`)
	c, err := probeConfig(t, "--config", file)
	require.NoError(t, err)
	require.Equal(t, "redis://file:6379/1", c.Redis.URL)
	require.Equal(t, 5, c.Worker.Concurrency)
	require.Equal(t, 3*time.Second, c.Worker.Lease)
	require.Equal(t, time.Minute, c.Worker.ShutdownGrace)
	require.Equal(t, []string{"f1", "f2"}, c.Worker.Queues)
	require.Equal(t, execList{"a=cat", "b=sh -c 'tr a,b c'"}, c.Worker.Exec)
	require.Equal(t, 750*time.Millisecond, c.Scheduler.Interval)

	// The environment wins over the file.
	t.Setenv("SESSIONQ_WORKER_CONCURRENCY", "7")
	t.Setenv("SESSIONQ_WORKER_QUEUES", "e1,e2")
	t.Setenv("SESSIONQ_WORKER_EXEC", "x=cat\ny=tr a,b c\n")
	t.Setenv("SESSIONQ_SCHEDULER_DISPATCH_GRACE", "1s")
	t.Setenv("SESSIONQ_REDIS_URL", "redis://env:6379/2")
	c, err = probeConfig(t, "--config", file)
	require.NoError(t, err)
	require.Equal(t, 7, c.Worker.Concurrency)
	require.Equal(t, []string{"e1", "e2"}, c.Worker.Queues)
	require.Equal(t, execList{"x=cat", "y=tr a,b c"}, c.Worker.Exec)
	require.Equal(t, time.Second, c.Scheduler.DispatchGrace)
	require.Equal(t, "redis://env:6379/2", c.Redis.URL)
	require.Equal(t, 3*time.Second, c.Worker.Lease) // still from the file

	// Flags win over both; a command with commas survives.
	c, err = probeConfig(t, "--config", file, "--concurrency", "3", "--queues", "q1", "--lease", "2s",
		"--exec", "p=sh -c 'echo a,b'", "--exec", "q=cat", "--redis", "redis://flag:6379/3")
	require.NoError(t, err)
	require.Equal(t, 3, c.Worker.Concurrency)
	require.Equal(t, []string{"q1"}, c.Worker.Queues)
	require.Equal(t, 2*time.Second, c.Worker.Lease)
	require.Equal(t, execList{"p=sh -c 'echo a,b'", "q=cat"}, c.Worker.Exec)
	require.Equal(t, "redis://flag:6379/3", c.Redis.URL)
	m, err := c.Worker.execMappings()
	require.NoError(t, err)
	require.Equal(t, []execMapping{{"p", "sh -c 'echo a,b'"}, {"q", "cat"}}, m)
}

func TestConfigFileInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sessionq.yaml"), []byte("worker:\n  concurrency: 4\n"), 0o600))
	t.Chdir(dir)
	c, err := probeConfig(t)
	require.NoError(t, err)
	require.Equal(t, 4, c.Worker.Concurrency)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		file string            // config file text, if any
		env  map[string]string // environment
		args []string
		want []string // substrings of the error
	}{
		{name: "broken YAML", file: "worker: [\n  lease: 1s\n", want: []string{"reading config file", "sessionq.yaml", "yaml: line"}},
		{name: "unknown key", file: "worker:\n  concurency: 3\n", want: []string{"sessionq.yaml", "unknown key worker.concurency"}},
		{name: "duration without unit", file: "worker:\n  lease: 10\n", want: []string{"sessionq.yaml", "worker.lease", "invalid duration 10"}},
		{name: "section not a mapping", file: "scheduler: 3\n", want: []string{"scheduler: want a mapping"}},
		{name: "bad duration in env", env: map[string]string{"SESSIONQ_WORKER_LEASE": "soon"}, want: []string{`worker.lease: invalid duration "soon"`}},
		{name: "bad number in env", env: map[string]string{"SESSIONQ_WORKER_CONCURRENCY": "many"}, want: []string{`worker.concurrency: invalid value "many"`}},
		{name: "zero concurrency", args: []string{"--concurrency", "0"}, want: []string{"worker.concurrency 0: must be positive"}},
		{name: "zero lease", args: []string{"--lease", "0s"}, want: []string{"worker.lease 0s: must be positive"}},
		{name: "bad duration flag", args: []string{"--interval", "fast"}, want: []string{`invalid argument "fast" for "--interval"`}},
		{name: "bad exec mapping", args: []string{"--exec", "cat"}, want: []string{`worker.exec "cat": want TYPE=COMMAND`}},
		{name: "exec type twice", args: []string{"--exec", "a=cat", "--exec", "a=ls"}, want: []string{`job type "a" mapped twice`}},
		{name: "bad exec type", args: []string{"--exec", "a b=cat"}, want: []string{`invalid job type "a b"`}},
		{name: "bad log level", args: []string{"--log-level", "loud"}, want: []string{`invalid log level "loud"`}},
		{name: "missing config file", args: []string{"--config", "/nonexistent/sessionq.yaml"}, want: []string{"/nonexistent/sessionq.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeConfig(t, tt.file))
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := probeConfig(t, args...)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n")
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// A broken config file is reported by every command, before anything runs.
func TestBrokenConfigFileNamed(t *testing.T) {
	file := writeConfig(t, "redis: {url: [\n")
	for _, args := range [][]string{{"submit", "--type", "t"}, {"job", "get", "j1"}, {"worker"}, {"scheduler"}, {"dev"}, {"demo"}} {
		_, _, err := run(t, append(args, "--config", file)...)
		require.ErrorContains(t, err, "reading config file "+file, "%v", args)
	}
}

// The example file in the repository is a valid configuration that says
// the defaults.
func TestExampleConfigIsValid(t *testing.T) {
	want, err := probeConfig(t)
	require.NoError(t, err)
	got, err := probeConfig(t, "--config", filepath.Join("..", "..", "..", "sessionq.example.yaml"))
	require.NoError(t, err)
	want.Worker.Exec, got.Worker.Exec = nil, nil // commented out in the file
	require.Equal(t, want, got)
}

// FuzzExecMapping: any TYPE=COMMAND text is accepted as a valid job type
// and a non-empty command, or refused with an error; never a panic.
func FuzzExecMapping(f *testing.F) {
	for _, s := range []string{"a=cat", "doc.render=sh -c 'x=1; echo $x'", "=cat", "a=", "no-equals", "a b=c", "a==b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := WorkerConfig{Exec: execList{s}}.execMappings()
		if err != nil {
			return
		}
		require.Len(t, m, 1)
		require.NoError(t, jobs.ValidateType(m[0].jobType))
		require.NotEmpty(t, m[0].command)
	})
}
