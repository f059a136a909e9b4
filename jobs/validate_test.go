package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

func TestValidateSessionID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "report-42", "user@example.com:tab.7_x", strings.Repeat("x", 128)} {
		require.NoError(t, jobs.ValidateSessionID(ok), ok)
	}
	for _, bad := range []string{"", "a b", "a{b", "a}b", "é", "a/b", "a\nb", strings.Repeat("x", 129)} {
		err := jobs.ValidateSessionID(bad)
		require.ErrorIs(t, err, jobs.ErrInvalid, bad)
		var ve *jobs.ValidationError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, "session ID", ve.Field)
	}
}

// The validators never panic, and what they accept is safe as a Redis hash
// tag and on a command line: bounded, no braces, no spaces or controls.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"", "a", "a{b}", "doc/render", "q-1", "x@y:z", "\x00", "é", strings.Repeat("z", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, v := range map[string]func(string) error{
			"session": jobs.ValidateSessionID, "app": jobs.ValidateApplicationID, "job": jobs.ValidateJobID,
			"type": jobs.ValidateType, "queue": jobs.ValidateQueue,
		} {
			err := v(s)
			if err != nil {
				if !errors.Is(err, jobs.ErrInvalid) {
					t.Fatalf("%s(%q): error %v does not wrap ErrInvalid", name, s, err)
				}
				continue
			}
			if s == "" || len(s) > 128 || strings.ContainsAny(s, "{} \t\r\n\x00") {
				t.Fatalf("%s accepted %q", name, s)
			}
			for _, r := range s {
				if r > 127 {
					t.Fatalf("%s accepted non-ASCII %q", name, s)
				}
			}
		}
	})
}
