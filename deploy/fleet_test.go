package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	corev1 "k8s.io/api/core/v1"
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
	redisBin := needRedisServer(t)
	p := loadCompose(t)
	dir := t.TempDir()
	bin := buildSessionq(t, dir)

	// Redis, with the compose command's own flags.
	rs := p.Services["redis"]
	raddr := startRedis(t, dir, redisBin, rs.Command[1:], "")
	poll(t, startTimeout, func() error {
		_, err := os.Stat(filepath.Join(dir, "appendonlydir"))
		return err
	}, "redis-server writes its append-only file")
	redisURL := "redis://" + raddr + "/0"

	serveAvailable := exec.Command(bin, "serve", "--help").Run() == nil
	names := p.ServiceNames()
	slices.Sort(names)
	var fleet []*proc
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
		require.Len(t, ports, 1, "%s listens on one address of its container: %v", name, s.Command)
		env := serviceEnv(t, s, redisURL)
		fleet = append(fleet, start(t, dir, name, bin, args, env))

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
	stopAll(t, dir, fleet)
}

// needRedisServer returns the path of redis-server, or skips the test
// when there is none (fails it when CI is set).
func needRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("redis-server is not on PATH: %v", err)
	}
	return bin
}

// startRedis starts redis-server with args on a free port of 127.0.0.1,
// its files in dir, requiring password when not empty, and returns its
// address once it answers.
func startRedis(t *testing.T, dir, bin string, args []string, password string) string {
	t.Helper()
	port := freePort(t)
	args = append(slices.Clone(args), "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "")
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	start(t, dir, "redis", bin, args, os.Environ())
	addr := "127.0.0.1:" + strconv.Itoa(port)
	poll(t, startTimeout, func() error { return redisPing(addr, password) }, "redis-server answers PING")
	return addr
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
	env := withoutSessionqEnv()
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
func start(t *testing.T, dir, name, bin string, args, env []string) *proc {
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
	return &proc{name: name, cmd: cmd, done: done}
}

// proc is a started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
}

// stop sends SIGTERM and waits up to d for the process to exit; it returns
// an error unless it exited with status 0.
func (p *proc) stop(d time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(d):
		return fmt.Errorf("%s still running %s after SIGTERM", p.name, d)
	}
	if !p.cmd.ProcessState.Success() {
		return fmt.Errorf("%s exited with %s", p.name, p.cmd.ProcessState)
	}
	return nil
}

// stopAll stops every process of fleet with SIGTERM, in parallel, and
// requires each to exit 0 within stopTimeout.
func stopAll(t *testing.T, dir string, fleet []*proc) {
	t.Helper()
	errs := make(chan error, len(fleet))
	for _, p := range fleet {
		go func() { errs <- p.stop(stopTimeout) }()
	}
	for range fleet {
		require.NoError(t, <-errs)
	}
	for _, p := range fleet {
		require.True(t, p.cmd.ProcessState.Success(), "%s log:\n%s", p.name, readLog(dir, p.name))
	}
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

// redisPing sends PING over RESP, after AUTH when password is set, and
// expects +PONG.
func redisPing(addr, password string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		if _, err := fmt.Fprintf(c, "AUTH %s\r\n", password); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+OK" {
			return fmt.Errorf("AUTH refused (%v)", err)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
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

// TestChartAsProcesses runs what the chart's pods would run, as local
// processes: the worker's, scheduler's (and, once `sessionq serve`
// exists, gateway's) args and env from the rendered chart, with the
// passwords from the chart's Secret expanded into the URL as the kubelet
// does, against a redis-server that requires its password: alone (mode
// single) or behind a Sentinel that requires its own (mode sentinel). Each
// process answers its probes; a job submitted with the CLI, configured by
// the same env, succeeds; SIGTERM stops each cleanly.
func TestChartAsProcesses(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"single", "sentinel"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			runChart(t, mode)
		})
	}
}

func runChart(t *testing.T, mode string) {
	redisBin := needRedisServer(t)
	dir := t.TempDir()
	bin := buildSessionq(t, dir)
	const password, sentinelPassword = "chart-Pa55word", "sentinel-Pa55word"
	master := startRedis(t, dir, redisBin, nil, password)

	// The chart names hosts of the cluster; the test's stand in for them.
	var vals map[string]any
	var hosts map[string]string
	switch mode {
	case "single":
		vals = map[string]any{"redis": map[string]any{"url": "redis://redis:6379/0", "password": password}}
		hosts = map[string]string{"@redis:6379/": "@" + master + "/"}
	case "sentinel":
		sentinel := startSentinel(t, dir, redisBin, master, password, sentinelPassword)
		vals = map[string]any{"redis": map[string]any{
			"mode":     "sentinel",
			"sentinel": map[string]any{"masterName": "mymaster", "nodes": []any{"sentinel-0:26379"}},
			"password": password, "sentinelPassword": sentinelPassword,
		}}
		hosts = map[string]string{"@sentinel-0:26379/": "@" + sentinel + "/"}
	}
	m := render(t, vals)
	data := m.secrets[fullname+"-secret"].Data
	serveAvailable := exec.Command(bin, "serve", "--help").Run() == nil
	var fleet []*proc
	var cliEnv []string // the worker's env, for the CLI
	for _, name := range slices.Sorted(maps.Keys(m.deployments)) {
		c := m.deployments[name].Spec.Template.Spec.Containers[0]
		if c.Args[0] == "serve" && !serveAvailable {
			t.Logf("%s: not started: this sessionq binary has no `serve` command yet (`sessionq serve --help` failed)", name)
			continue
		}
		// Listen on a free port of loopback instead of the pod's.
		args := slices.Clone(c.Args)
		port := strconv.Itoa(freePort(t))
		for i, a := range args {
			if listenAddr.MatchString(a) {
				args[i] = "127.0.0.1:" + port
			}
		}
		podEnv, vars := expandEnv(t, name, c.Env, data)
		require.Contains(t, vars["SESSIONQ_REDIS_URL"], password, "the kubelet puts the Secret's password into the URL")
		env := withoutSessionqEnv()
		for _, kv := range podEnv {
			for from, to := range hosts {
				kv = strings.Replace(kv, from, to, 1)
			}
			env = append(env, kv)
		}
		if c.Args[0] == "worker" {
			cliEnv = env
		}
		fleet = append(fleet, start(t, dir, name, bin, args, env))
		for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			url := "http://127.0.0.1:" + port + probe.HTTPGet.Path
			poll(t, startTimeout, func() error { return httpOK(t.Context(), url) }, name+" answers "+probe.HTTPGet.Path)
		}
	}
	require.GreaterOrEqual(t, len(fleet), 2, "a worker and a scheduler at least")

	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = cliEnv
		out, err := cmd.Output()
		require.NoError(t, err, "sessionq %v: %s", args, stderrOf(err))
		return out
	}
	id := strings.TrimSpace(string(cli("submit", "--type", "echo", "--session", "k1", "--payload", "from the chart", "--wait", "--wait-timeout", jobTimeout.String())))
	var info struct{ State, Result string }
	out := cli("job", "get", id)
	require.NoError(t, json.Unmarshal(out, &info), "%s", out)
	require.Equal(t, "succeeded", info.State)
	require.Equal(t, "from the chart", info.Result)

	stopAll(t, dir, fleet)
}

// withoutSessionqEnv is the test's environment less SESSIONQ_* variables.
func withoutSessionqEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// startSentinel starts a Redis Sentinel on a free port that monitors the
// master at masterAddr as "mymaster" (with masterPassword) and requires
// password itself, and returns its address once it knows the master.
func startSentinel(t *testing.T, dir, bin, masterAddr, masterPassword, password string) string {
	t.Helper()
	host, mport, err := net.SplitHostPort(masterAddr)
	require.NoError(t, err)
	port := freePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil,
		"port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster %s %s 1\nsentinel auth-pass mymaster %s\nrequirepass %s\n",
		port, dir, host, mport, masterPassword, password), 0o600))
	start(t, dir, "sentinel", bin, []string{conf, "--sentinel"}, os.Environ())
	addr := "127.0.0.1:" + strconv.Itoa(port)
	poll(t, startTimeout, func() error { return redisPing(addr, password) }, "redis-sentinel answers PING")
	return addr
}
