package jobs_test

import (
	"testing"

	"github.com/sessionq/sessionq/internal/redistest"
)

// TestMain runs the tests with the shared Redis of redistest, and checks
// for leaked goroutines (redistest.Main uses goleak).
func TestMain(m *testing.M) { redistest.Main(m) }
