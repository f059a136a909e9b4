package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// healthBodyMax is how much of a failed probe's answer health prints.
const healthBodyMax = 256

func newHealthCmd(*env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Probe a sessionq process's /healthz or /readyz: exit 0 when it answers 2xx",
		Long: `Send one GET to --url and exit 0 when the answer is 2xx, else non-zero.

For container healthchecks where the image has no curl: the worker and the
scheduler serve /healthz and /readyz on --metrics-addr, the gateway on --addr.
/healthz says the process is up; /readyz that it also reaches Redis.`,
		Example: `  sessionq health --url http://127.0.0.1:9090/readyz`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, _ := cmd.Flags().GetString("url")
			timeout, _ := cmd.Flags().GetDuration("timeout")
			return probe(cmd.Context(), raw, timeout, cmd.OutOrStdout())
		},
	}
	cmd.Flags().String("url", "http://127.0.0.1:9090/readyz", "URL to GET")
	cmd.Flags().Duration("timeout", 2*time.Second, "give up after this long")
	return cmd
}

// probe GETs raw and returns nil on a 2xx answer, printing its status line
// to out.
func probe(ctx context.Context, raw string, timeout time.Duration, out io.Writer) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid --url %q: want http://HOST:PORT/PATH", raw)
	}
	if timeout <= 0 {
		return fmt.Errorf("invalid --timeout %s: want more than 0", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("probing %s: %w", u.Redacted(), err)
	}
	// One request per process: no connection to keep alive.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("probing %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthBodyMax))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probing %s: %s: %s", u.Redacted(), resp.Status, body)
	}
	_, _ = fmt.Fprintln(out, resp.Status)
	return nil
}
