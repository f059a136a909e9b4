package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionq/sessionq/internal/redact"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://user:s3cret@host:6379/0", "redis://user:xxxxx@host:6379/0"},
		{"rediss://:s3cret@host:6379/0", "rediss://:xxxxx@host:6379/0"},
		{"redis://user@host/0", "redis://user@host/0"},
		// Does not parse as a URL (bad port), still redacted.
		{"redis://u:s3cret@host:notaport/0", "redis://u:xxxxx@host:notaport/0"},
		// A password with an unescaped '/', '@' and ':'.
		{"redis://u:a/b@c:d@host/0", "redis://u:xxxxx@host/0"},
		// Cluster and Sentinel forms.
		{"redis://u:s3cret@h1:7000?addr=h2:7001&addr=h3:7002", "redis://u:xxxxx@h1:7000?addr=h2:7001&addr=h3:7002"},
		{"redis://:sentpw@h1:26379/0?master_name=m&password=mpw&addr=h2:26379", "redis://:xxxxx@h1:26379/0?master_name=m&password=xxxxx&addr=h2:26379"},
		{"redis://h1:26379?sentinel_password=spw&master_name=m", "redis://h1:26379?sentinel_password=xxxxx&master_name=m"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, redact.URL(tt.in), tt.in)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"s3cret"}, redact.Secrets("redis://u:s3cret@h/0"))
	require.Equal(t, []string{"p%40ss", "p@ss", "mpw"}, redact.Secrets("redis://u:p%40ss@h/0?password=mpw"))
	require.Empty(t, redact.Secrets("redis://h:6379/0"))
}

func TestRedactorStringErrorWriter(t *testing.T) {
	t.Parallel()
	raw := "redis://u:s3cret-pw@host:bad/0"
	r := redact.New([]string{raw}, "tok-abcdef")
	// A message that quotes the URL and, elsewhere, the password alone (as
	// url.Parse does for a malformed port).
	msg := fmt.Sprintf("invalid Redis URL %q: invalid port %q; token tok-abcdef", raw, ":s3cret-pw")
	got := r.String(msg)
	require.NotContains(t, got, "s3cret")
	require.NotContains(t, got, "tok-abcdef")
	require.Contains(t, got, `"redis://u:xxxxx@host:bad/0"`)

	// Any Redis URL with a password is masked, known or not.
	require.Equal(t, "at rediss://:xxxxx@other:6380/1 now", (*redact.Redactor)(nil).String("at rediss://:other-pw@other:6380/1 now"))

	base := fmt.Errorf("dialling: %w", fs.ErrNotExist)
	err := r.Error(fmt.Errorf("opening %s: %w", raw, base))
	require.NotContains(t, err.Error(), "s3cret")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, r.Error(nil))
	plain := errors.New("nothing secret")
	require.Same(t, plain, r.Error(plain))

	var buf bytes.Buffer
	n, err := r.Writer(&buf).Write([]byte("level=INFO url=" + raw + "\n"))
	require.NoError(t, err)
	require.Equal(t, len("level=INFO url="+raw+"\n"), n)
	require.Equal(t, "level=INFO url=redis://u:xxxxx@host:bad/0\n", buf.String())
}

// Short secrets are masked inside URLs but not where they stand alone.
func TestShortSecret(t *testing.T) {
	t.Parallel()
	r := redact.New([]string{"redis://:ab@h/0"})
	require.Equal(t, "redis://:xxxxx@h/0 about ab", r.String("redis://:ab@h/0 about ab"))
}

func ExampleURL() {
	fmt.Println(redact.URL("redis://app:s3cret@redis.internal:6379/0"))
	// Output: redis://app:xxxxx@redis.internal:6379/0
}

func ExampleRedactor_Error() {
	raw := "redis://app:s3cret@redis.internal:notaport/0"
	r := redact.New([]string{raw})
	err := fmt.Errorf("invalid Redis URL %q: invalid port %q after host", raw, ":s3cret")
	fmt.Println(r.Error(err))
	// Output: invalid Redis URL "redis://app:xxxxx@redis.internal:notaport/0": invalid port ":xxxxx" after host
}

// Where the @host was forgotten, the "port" may be the password.
func TestURLForgottenHost(t *testing.T) {
	t.Parallel()
	require.Equal(t, "redis://admin:xxxxx/0", redact.URL("redis://admin:hunter22/0"))
	require.Equal(t, []string{"hunter22"}, redact.Secrets("redis://admin:hunter22/0"))
	require.Equal(t, "redis://[::1]/0", redact.URL("redis://[::1]/0"))
	require.Equal(t, "redis://[::1]:6379/0", redact.URL("redis://[::1]:6379/0"))
	require.Equal(t, "redis://h:6379", redact.URL("redis://h:6379"))
}
