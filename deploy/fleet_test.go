package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

const (
	startTimeout = 30 * time.Second // a process answers /readyz within this
	stopTimeout  = 20 * time.Second // SIGTERM to exit, before SIGKILL
	jobTimeout   = 30 * time.Second
	pollEvery    = 20 * time.Millisecond
)

// listenAddr matches the listen addresses of compose commands.
var listenAddr = regexp.MustCompile(`^0\.0\.0\.0:(\d+)$`)

// TestComposeFleetAsProcesses runs what `docker compose up` would run, as
// local processes: redis-server with the compose file's flags, then every
// sessionq service with its command and environment from the loaded
// project, the Redis address and the ports swapped for the test's. It
// waits until each answers /healthz and /readyz and passes its compose
// healthcheck, submits jobs with the CLI and sees them succeed, and stops
// everything with SIGTERM, expecting a clean exit.
func TestComposeFleetAsProcesses(t *testing.T) {
	t.Parallel()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("redis-server is not on PATH: %v", err)
	}
	p := loadCompose(t)
	dir := t.TempDir()
	bin := buildSessionq(t, dir)

	// Redis, with the compose command's own flags.
	rs := p.Services["redis"]
	rport := freePort(t)
	args := append(slices.Clone(rs.Command[1:]), "--port", strconv.Itoa(rport), "--bind", "127.0.0.1", "--dir", dir, "--save", "")
	start(t, dir, "redis", redisBin, args, os.Environ())
	raddr := "127.0.0.1:" + strconv.Itoa(rport)
	poll(t, startTimeout, func() error { return redisPing(raddr) }, "redis-server answers PING")
	poll(t, startTimeout, func() error {
		_, err := os.Stat(filepath.Join(dir, "appendonlydir"))
		return err
	}, "redis-server writes its append-only file")
	redisURL := "redis://" + raddr + "/0"

	serveAvailable := exec.Command(bin, "serve", "--help").Run() == nil
	names := p.ServiceNames()
	slices.Sort(names)
	type running struct {
		name string
		proc *exec.Cmd
	}
	var fleet []running
	for _, name := range names {
		s := p.Services[name]
		if name == "redis" {
			continue
		}
		if s.Command[0] == "serve" && !serveAvailable {
			t.Logf("%s: not started: this sessionq binary has no `serve` command yet (`sessionq serve --help` failed)", name)
			continue
		}
		ports := map[string]string{}
		args := slices.Clone([]string(s.Command))
		for i, a := range args {
			if m := listenAddr.FindStringSubmatch(a); m != nil {
				ports[m[1]] = strconv.Itoa(freePort(t))
				args[i] = "127.0.0.1:" + ports[m[1]]
			}
		}
		env := serviceEnv(t, s, redisURL)
		proc := start(t, dir, name, bin, args, env)
		fleet = append(fleet, running{name, proc})

		for _, port := range ports {
			base := "http://127.0.0.1:" + port
			poll(t, startTimeout, func() error { return httpOK(t.Context(), base+"/healthz") }, name+" answers /healthz")
			poll(t, startTimeout, func() error { return httpOK(t.Context(), base+"/readyz") }, name+" answers /readyz")
		}
		// The compose healthcheck itself, with this binary and port.
		hc := s.HealthCheck.Test
		require.Equal(t, "CMD", hc[0], name)
		hcArgs := slices.Clone([]string(hc[2:]))
		for i := range hcArgs {
			for from, to := range ports {
				hcArgs[i] = strings.ReplaceAll(hcArgs[i], "127.0.0.1:"+from+"/", "127.0.0.1:"+to+"/")
			}
		}
		require.Equal(t, "sessionq", hc[1], name)
		out, err := exec.CommandContext(t.Context(), bin, hcArgs...).CombinedOutput()
		require.NoError(t, err, "%s: healthcheck %v: %s", name, hcArgs, out)
	}
	require.GreaterOrEqual(t, len(fleet), 4, "three workers and a scheduler at least")

	// Jobs submitted with the CLI run on the fleet: a session job through
	// one exec mapping, a plain one through the other.
	for _, j := range []struct{ typ, session, payload, want string }{
		{"doc.upper", "s1", "hello", "HELLO"},
		{"doc.upper", "s1", "again", "AGAIN"},
		{"echo", "", "hi", "hi"},
	} {
		args := []string{"submit", "--redis", redisURL, "--type", j.typ, "--payload", j.payload, "--wait", "--wait-timeout", jobTimeout.String()}
		if j.session != "" {
			args = append(args, "--session", j.session)
		}
		out, err := exec.CommandContext(t.Context(), bin, args...).Output()
		require.NoError(t, err, "submit %v: %s", args, stderrOf(err))
		id := strings.TrimSpace(string(out))
		out, err = exec.CommandContext(t.Context(), bin, "job", "get", id, "--redis", redisURL).Output()
		require.NoError(t, err, "job get: %s", stderrOf(err))
		var info struct {
			State  string `json:"state"`
			Result string `json:"result"`
		}
		require.NoError(t, json.Unmarshal(out, &info), "%s", out)
		require.Equal(t, "succeeded", info.State, "%s", out)
		require.Equal(t, j.want, info.Result)
	}

	// SIGTERM stops every sessionq process cleanly.
	for _, r := range fleet {
		require.NoError(t, r.proc.Process.Signal(syscall.SIGTERM), r.name)
	}
	for _, r := range fleet {
		require.NoError(t, waitExit(r.proc, stopTimeout), "%s exits 0 on SIGTERM; its log:\n%s", r.name, readLog(dir, r.name))
	}
}

// buildSessionq builds the sessionq binary of the root module into dir.
func buildSessionq(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sessionq")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/sessionq")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building sessionq: %s", out)
	return bin
}

// serviceEnv is the test's environment less SESSIONQ_* variables, plus the
// service's compose environment with SESSIONQ_REDIS_URL set to redisURL.
func serviceEnv(t *testing.T, s types.ServiceConfig, redisURL string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONQ_") {
			env = append(env, kv)
		}
	}
	_, ok := s.Environment["SESSIONQ_REDIS_URL"]
	require.True(t, ok, "%s sets SESSIONQ_REDIS_URL", s.Name)
	for k, v := range s.Environment {
		require.NotNil(t, v, "%s: %s has a value", s.Name, k)
		if k == "SESSIONQ_REDIS_URL" {
			env = append(env, k+"="+redisURL)
			continue
		}
		env = append(env, k+"="+*v)
	}
	return env
}

// start starts bin with args and env, its output in dir/name.log, and
// makes sure it is gone when the test ends: SIGTERM, then SIGKILL after
// stopTimeout.
func start(t *testing.T, dir, name, bin string, args, env []string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	require.NoError(t, cmd.Start(), "starting %s", name)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	exited[cmd] = done
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, readLog(dir, name))
		}
	})
	return cmd
}

// exited holds, per started process, a channel closed when it exited.
// Only the test goroutine reads and writes the map.
var exited = map[*exec.Cmd]chan struct{}{}

// waitExit waits up to d for cmd to exit and returns an error unless it
// exited with status 0.
func waitExit(cmd *exec.Cmd, d time.Duration) error {
	select {
	case <-exited[cmd]:
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
	if !cmd.ProcessState.Success() {
		return fmt.Errorf("exited with %s", cmd.ProcessState)
	}
	return nil
}

func readLog(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func stderrOf(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(ee.Stderr)
	}
	return ""
}

// poll calls f every pollEvery until it returns nil, or fails the test
// after d with f's last error.
func poll(t *testing.T, d time.Duration, f func() error, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not: %s: %v", d, what, err)
		}
		time.Sleep(pollEvery)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisPing sends PING over RESP and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// httpOK GETs url and returns nil on 200.
func httpOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
