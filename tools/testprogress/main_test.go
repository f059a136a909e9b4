package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const passing = `{"Action":"start","Package":"github.com/sessionq/sessionq/a"}
{"Action":"run","Package":"github.com/sessionq/sessionq/a","Test":"TestX"}
{"Action":"output","Package":"github.com/sessionq/sessionq/a","Test":"TestX","Output":"=== RUN   TestX\n"}
{"Action":"output","Package":"github.com/sessionq/sessionq/a","Test":"TestX/sub","Output":"chatter\n"}
{"Action":"pass","Package":"github.com/sessionq/sessionq/a","Test":"TestX/sub","Elapsed":0.1}
{"Action":"pass","Package":"github.com/sessionq/sessionq/a","Test":"TestX","Elapsed":0.25}
{"Action":"output","Package":"github.com/sessionq/sessionq/a","Output":"PASS\n"}
{"Action":"output","Package":"github.com/sessionq/sessionq/a","Output":"ok  \tgithub.com/sessionq/sessionq/a\t0.30s\n"}
{"Action":"pass","Package":"github.com/sessionq/sessionq/a","Elapsed":0.3}
{"Action":"output","Package":"github.com/sessionq/sessionq/c","Output":"?   \tgithub.com/sessionq/sessionq/c\t[no test files]\n"}
{"Action":"skip","Package":"github.com/sessionq/sessionq/c"}
`

const failing = `{"Action":"run","Package":"github.com/sessionq/sessionq/b","Test":"TestY"}
{"Action":"output","Package":"github.com/sessionq/sessionq/b","Test":"TestY","Output":"    y_test.go:9: boom\n"}
{"Action":"fail","Package":"github.com/sessionq/sessionq/b","Test":"TestY","Elapsed":1.5}
{"Action":"output","Package":"github.com/sessionq/sessionq/b","Output":"FAIL\n"}
{"Action":"output","Package":"github.com/sessionq/sessionq/b","Output":"FAIL\tgithub.com/sessionq/sessionq/b\t1.60s\n"}
{"Action":"fail","Package":"github.com/sessionq/sessionq/b","Elapsed":1.6}
`

func TestReport(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.True(t, report(strings.NewReader(passing), &out))
	require.Equal(t, "  PASS a TestX (0.25s)\n"+
		"ok  \tgithub.com/sessionq/sessionq/a\t0.30s\n"+
		"?   \tgithub.com/sessionq/sessionq/c\t[no test files]\n"+
		"\n1 packages ok, 0 failed, 1 without tests; tests: 1 passed, 0 failed, 0 skipped\n", out.String())

	out.Reset()
	require.False(t, report(strings.NewReader(passing+failing), &out))
	got := out.String()
	require.Contains(t, got, "  FAIL b TestY (1.50s)\n        y_test.go:9: boom\n")
	require.Contains(t, got, "FAIL\tgithub.com/sessionq/sessionq/b\t1.60s\n")
	require.Contains(t, got, "1 packages ok, 1 failed")
}

func TestReportBuildFailureAndNothing(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	build := `{"ImportPath":"github.com/sessionq/sessionq/d","Action":"build-output","Output":"d.go:3:1: syntax error\n"}
{"ImportPath":"github.com/sessionq/sessionq/d","Action":"build-fail"}
`
	require.False(t, report(strings.NewReader(passing+build), &out))
	require.Contains(t, out.String(), "d.go:3:1: syntax error\n")

	out.Reset()
	require.False(t, report(strings.NewReader("go: unknown flag -x\n"), &out), "no package tested is a failure")
	require.Contains(t, out.String(), "go: unknown flag -x\n")
}
