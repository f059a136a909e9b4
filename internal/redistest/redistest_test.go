package redistest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// childEnv marks the test binary re-executed by TestSpawnDiesWithTestBinary.
const childEnv = "REDISTEST_SPAWN_CHILD"

func TestClientDistinctDatabases(t *testing.T) {
	ctx := t.Context()
	c1, u1 := redistest.Client(t)
	c2, u2 := redistest.Client(t)
	require.NotEqual(t, u1, u2)
	require.NotEqual(t, c1.Options().DB, c2.Options().DB)
	require.NotZero(t, c1.Options().DB)
	require.NotZero(t, c2.Options().DB)

	require.NoError(t, c1.Set(ctx, "k", "one", 0).Err())
	n, err := c2.Exists(ctx, "k").Result()
	require.NoError(t, err)
	require.Zero(t, n, "key written on %s is visible on %s", u1, u2)

	v, err := c1.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "one", v)

	// The URL names the client's database, for subprocesses and asynq.
	opts, err := redis.ParseURL(u1)
	require.NoError(t, err)
	require.Equal(t, c1.Options().DB, opts.DB)
	c3 := redis.NewClient(opts)
	t.Cleanup(func() { _ = c3.Close() })
	v, err = c3.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "one", v)
}

func TestClientStartsEmpty(t *testing.T) {
	c, _ := redistest.Client(t)
	n, err := c.DBSize(t.Context()).Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestSpawnAppendOnlySurvivesRestart(t *testing.T) {
	ctx := t.Context()
	p := redistest.Spawn(t, redistest.SpawnOptions{AppendOnly: true})
	c := p.Client(t)
	require.NoError(t, c.Set(ctx, "k", "kept", 0).Err())

	addr := p.Addr
	require.NoError(t, p.Restart())
	require.Equal(t, addr, p.Addr)

	v, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "kept", v)
}

func TestSpawnAppendOnlySurvivesKill(t *testing.T) {
	ctx := t.Context()
	p := redistest.Spawn(t, redistest.SpawnOptions{AppendOnly: true})
	c := p.Client(t)
	require.NoError(t, c.Set(ctx, "k", "kept", 0).Err())

	require.NoError(t, p.Kill())
	require.NoError(t, p.Restart())

	v, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "kept", v)
}

func TestSpawnKill(t *testing.T) {
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	c := p.Client(t)
	require.NoError(t, c.Ping(t.Context()).Err())

	require.NoError(t, p.Kill())

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	once := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = once.Close() })
	require.Error(t, once.Ping(ctx).Err())
	_, err := net.DialTimeout("tcp", p.Addr, time.Second)
	require.Error(t, err)

	// Stopping a killed server is a no-op.
	require.NoError(t, p.Stop())
}

func TestSpawnStopThenRestart(t *testing.T) {
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	c := p.Client(t)
	require.NoError(t, p.Stop())
	_, err := net.DialTimeout("tcp", p.Addr, time.Second)
	require.Error(t, err)

	require.NoError(t, p.Restart())
	require.NoError(t, c.Ping(t.Context()).Err())
	require.Equal(t, "redis://"+p.Addr, p.URL())
}

func TestFreePort(t *testing.T) {
	port, err := redistest.FreePort()
	require.NoError(t, err)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestSpawnDiesWithTestBinary kills a test binary that has spawned a
// redis-server and checks that the server goes away with it.
func TestSpawnDiesWithTestBinary(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		spawnChild(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signal is Linux only")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server on PATH")
	}

	// The child blocks reading stdin until it is killed.
	stdinR, stdinW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = stdinR.Close(); _ = stdinW.Close() })

	cmd := exec.Command(os.Args[0], "-test.run=^TestSpawnDiesWithTestBinary$", "-test.count=1")
	// The child's temporary directories go under ours and are removed with it.
	cmd.Env = append(os.Environ(), childEnv+"=1", "TMPDIR="+t.TempDir())
	cmd.Stdin = stdinR
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var addr string
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR="); ok {
			addr = a
			break
		}
	}
	require.NotEmpty(t, addr, "child did not report its redis address; output:\n%s", strings.Join(lines, "\n"))
	require.NoError(t, pingOnce(addr), "spawned redis-server does not answer")

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool {
		_, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "redis-server at %s outlived the killed test binary", addr)
}

func spawnChild(t *testing.T) {
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	fmt.Printf("ADDR=%s\n", p.Addr)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until killed
	t.Fatal("child was not killed")
}

func pingOnce(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return errors.Join(errors.New("PING"), err)
	}
	return nil
}
