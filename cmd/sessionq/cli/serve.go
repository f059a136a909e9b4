package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

func newServeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP gateway: the session protocol over HTTP/JSON, for users with tokens",
		Long: `Serve the HTTP/JSON gateway on the session table and the job queue in Redis.
Every request but POST /v1/login, /healthz and /readyz needs
"Authorization: Bearer TOKEN"; create users and tokens with ` + "`sessionq user`" + `.
/metrics needs the token of a user with read:all (or admin), unless
--metrics-addr serves it, without a token, on an address of its own (and
then not on --addr). With --tls-cert and --tls-key the gateway serves HTTPS
and its cookies are Secure. The OpenAPI description is at /openapi.json.`,
		Example: `  sessionq user add alice --grant 'submit:*/*' --grant read:own --grant write:own
  sessionq user token create alice
  sessionq serve --addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.bindFlags(cmd, map[string]string{
				"addr": "gateway.addr", "cookie-secure": "gateway.cookie_secure", "tls-cert": "gateway.tls_cert",
				"tls-key": "gateway.tls_key", "metrics-addr": "gateway.metrics_addr", "trusted-proxies": "gateway.trusted_proxies",
			}); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			cn, err := e.connect(cmd, cfg)
			if err != nil {
				return err
			}
			defer cn.close()
			tbl, sc, err := e.sessionTable(cn.rdb)
			if err != nil {
				return err
			}
			g, err := startGateway(cn.ctx, cn.rdb, tbl, cfg, sc, cfg.Gateway.Addr, e.logger(cfg))
			if err != nil {
				return err
			}
			defer g.Stop()
			scheme := "http"
			if cfg.Gateway.TLSCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(e.errOut, "sessionq serve: listening on %s://%s (OpenAPI at /openapi.json)\n", scheme, g.Addr())
			<-cn.ctx.Done()
			cn.stop()
			fmt.Fprintln(e.errOut, "sessionq serve: stopping")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.String("addr", gateway.DefaultAddr, "address to listen on (env SESSIONQ_GATEWAY_ADDR)")
	fs.Bool("cookie-secure", false, "mark cookies Secure, behind a TLS-terminating proxy (on with --tls-cert; env SESSIONQ_GATEWAY_COOKIE_SECURE)")
	fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	fs.String("tls-key", "", "the private key of --tls-cert (PEM)")
	fs.String("metrics-addr", "", `serve /metrics unauthenticated on this address of its own ("": on --addr, with a read:all token)`)
	fs.StringSlice("trusted-proxies", nil, "addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed (default none)")
	return cmd
}

// startGateway starts the gateway on addr over rdb and tbl.
func startGateway(ctx context.Context, rdb redis.UniversalClient, tbl *sessiontable.Table, cfg *Config, sc SessionConfig, addr string, log *slog.Logger) (*gateway.Server, error) {
	jcfg := cfg.Client.jobsConfig()
	jcfg.MaxBacklog = sc.MaxBacklog
	jc, err := jobs.NewClient(rdb, jcfg)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := countRedisErrors(reg, rdb); err != nil {
		return nil, err
	}
	gcfg, err := cfg.Gateway.gatewayConfig()
	if err != nil {
		return nil, err
	}
	gcfg.Addr, gcfg.Logger, gcfg.MaxFileSize, gcfg.Registry = addr, log, sc.MaxFileSize, reg
	g, err := gateway.New(rdb, tbl, jc, users.New(rdb), gcfg)
	if err != nil {
		return nil, err
	}
	if err := g.Start(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// devGateway is the gateway of `sessionq dev`, with its admin's token.
type devGateway struct {
	srv   *gateway.Server
	token string
}

// startDevGateway starts the gateway on addr and gives the user "admin"
// (created when missing, with the admin right) a new token.
func startDevGateway(ctx context.Context, rdb redis.UniversalClient, tbl *sessiontable.Table, cfg *Config, sc SessionConfig, addr string, log *slog.Logger) (*devGateway, error) {
	us := users.New(rdb)
	if err := us.Add(ctx, "admin", "", []string{users.Admin}); err != nil && !errors.Is(err, users.ErrExists) {
		return nil, err
	}
	tok, _, err := us.CreateToken(ctx, "admin", "sessionq dev", 0)
	if err != nil {
		return nil, err
	}
	g, err := startGateway(ctx, rdb, tbl, cfg, sc, addr, log)
	if err != nil {
		return nil, err
	}
	return &devGateway{srv: g, token: tok}, nil
}

func (g *devGateway) print(w io.Writer) {
	base := "http://" + g.srv.Addr()
	fmt.Fprintf(w, `
The HTTP gateway is at %s (auth on; OpenAPI at %s/openapi.json).
User "admin" (right admin) has this token:

  export SESSIONQ_TOKEN=%s
  curl -s -H "Authorization: Bearer $SESSIONQ_TOKEN" -H 'Content-Type: application/json' \
    -d '{"type":"echo","payload":"hello"}' %s/v1/jobs
`, base, base, g.token, base)
}
