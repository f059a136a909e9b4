package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegisterTwiceAndNil(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	require.NoError(t, Register(reg, c))
	require.NoError(t, Register(reg, c), "registered already is fine")
	require.NoError(t, Register(nil, c))
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"})
	require.Error(t, Register(reg, clash))
}
