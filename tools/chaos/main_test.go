package chaos

import (
	"testing"

	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
