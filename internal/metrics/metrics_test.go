package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

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
