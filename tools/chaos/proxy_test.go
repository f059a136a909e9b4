package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string, within time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(within)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestProxy(t *testing.T) {
	t.Parallel()
	p, err := NewProxy(echoServer(t))
	require.NoError(t, err)
	defer p.Close()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}

	c1, r1 := dial()
	got, err := roundTrip(c1, r1, "hello", 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "hello\n", got)

	// Blackhole: the open connection stays open and nothing comes back
	// (the read runs into its own deadline); a new one is accepted and
	// hangs the same way.
	p.Blackhole()
	require.Equal(t, Blackhole, p.Mode())
	_, err = roundTrip(c1, r1, "lost", 200*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	c2, r2 := dial()
	_, err = roundTrip(c2, r2, "lost too", 200*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// Heal closes the blackholed connections (their bytes were dropped),
	// and new ones pass.
	p.Heal()
	_, err = roundTrip(c1, r1, "after", 5*time.Second)
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a healed dark connection is closed, not left hanging: %v", err)
	c3, r3 := dial()
	got, err = roundTrip(c3, r3, "again", 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "again\n", got)

	// Cut closes open connections and new ones at once.
	p.Cut()
	_, err = roundTrip(c3, r3, "cut", 5*time.Second)
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a cut connection is closed: %v", err)
	c4, r4 := dial()
	_, err = roundTrip(c4, r4, "refused", 5*time.Second)
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a connection made while cut is closed: %v", err)

	p.Heal()
	c5, r5 := dial()
	got, err = roundTrip(c5, r5, "healed", 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "healed\n", got)
	require.NoError(t, p.Close())
}
