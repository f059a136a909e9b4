package worker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// CheckExec refuses, before a worker starts, a command that could not run.
func TestCheckExec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\ncat\n"), 0o755))
	plain := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(plain, []byte("x"), 0o644))

	ok := []struct {
		command string
		opts    ExecOptions
	}{
		{"true", ExecOptions{}},
		{"sh -c 'exit 0'", ExecOptions{}},
		{script + " --flag", ExecOptions{}},
		{"./run.sh", ExecOptions{Dir: dir}}, // relative to Dir
	}
	for _, tt := range ok {
		require.NoError(t, CheckExec(tt.command, tt.opts), tt.command)
	}
	bad := []struct {
		name, command string
		opts          ExecOptions
		want          string
	}{
		{"not in PATH", "sessionq-no-such-command --flag", ExecOptions{}, `"sessionq-no-such-command": executable file not found in $PATH`},
		{"no such file", "/nonexistent/bin", ExecOptions{}, "/nonexistent/bin: no such file or directory"},
		{"not executable", plain, ExecOptions{}, "permission denied"},
		{"a directory", dir, ExecOptions{}, "is a directory"},
		{"relative, not in the worker's directory", "./run.sh", ExecOptions{}, "no such file or directory"},
		{"no such directory", "true", ExecOptions{Dir: "/nonexistent/sessionq/dir"}, "worker: exec working directory: stat /nonexistent/sessionq/dir: no such file or directory"},
		{"directory is a file", "true", ExecOptions{Dir: plain}, "worker: exec working directory " + plain + " is not a directory"},
		{"shell operator", "cat | wc", ExecOptions{}, "shell operator"},
		{"empty", "  ", ExecOptions{}, "worker: exec command is empty"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckExec(tt.command, tt.opts)
			require.ErrorIs(t, err, ErrExecCannotRun)
			require.ErrorContains(t, err, tt.want)
		})
	}
	require.NoError(t, CheckExecDir(""))
	require.NoError(t, CheckExecDir(dir))
	require.ErrorIs(t, CheckExecDir(plain), ErrExecCannotRun)
}

// A worker checks its exec commands before it starts taking jobs.
func ExampleCheckExec() {
	for _, command := range []string{"sh -c 'cat'", "/nonexistent/render --pdf"} {
		if err := CheckExec(command, ExecOptions{}); err != nil {
			fmt.Println("refused:", errors.Is(err, ErrExecCannotRun))
			continue
		}
		fmt.Println("ok")
	}
	// Output:
	// ok
	// refused: true
}
