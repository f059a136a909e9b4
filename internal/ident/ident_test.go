package ident

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewIsHostPidRandom(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	a, b := New(), New()
	require.True(t, strings.HasPrefix(a, fmt.Sprintf("%s-%d-", host, os.Getpid())), a)
	require.NotEqual(t, a, b)
}
