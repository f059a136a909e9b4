package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/users"
)

func newUserCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users, rights and API tokens of the HTTP gateway",
		Long: `Users of the HTTP gateway (sessionq serve), kept in Redis.

Rights: read:own, read:all (read sessions and jobs), write:own, write:all
(write session parameters and files, close sessions, cancel jobs),
submit:QUEUE/TYPE (globs allowed: submit:*/* submits anything),
impersonate (open sessions for other users without their password) and
admin (everything).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token.AddCommand(newUserTokenCreateCmd(e), newUserTokenListCmd(e), newUserTokenRevokeCmd(e))
	cmd.AddCommand(newUserAddCmd(e), newUserPasswordCmd(e), newUserGrantCmd(e, true), newUserGrantCmd(e, false),
		newUserListCmd(e), newUserRemoveCmd(e), token)
	return cmd
}

// withUsers runs f with the user store on the configured Redis.
func (e *env) withUsers(cmd *cobra.Command, f func(ctx context.Context, s *users.Store) error) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	cn, err := e.connect(cmd, cfg)
	if err != nil {
		return err
	}
	defer cn.close()
	return f(cn.ctx, users.New(cn.rdb))
}

// readPassword reads a password from the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, users.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("reading the password from stdin: it is empty")
	}
	return pw, nil
}

func newUserAddCmd(e *env) *cobra.Command {
	var grants []string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user",
		Example: `  printf '%s\n' "$PW" | sessionq user add alice --password-stdin --grant read:own --grant write:own --grant 'submit:default/*'
  sessionq user add ops --grant admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw := ""
			if pwStdin {
				var err error
				if pw, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				if err := s.Add(ctx, args[0], pw, grants); err != nil {
					return err
				}
				fmt.Fprintf(e.errOut, "user %s added\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&grants, "grant", nil, "a right to grant (repeatable)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin (default: no password; tokens only)")
	return cmd
}

func newUserPasswordCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "password NAME",
		Short: "Set a user's password from the first line of stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				return s.SetPassword(ctx, args[0], pw)
			})
		},
	}
}

func newUserGrantCmd(e *env, grant bool) *cobra.Command {
	use, short := "grant NAME RIGHT...", "Grant rights to a user"
	if !grant {
		use, short = "revoke NAME RIGHT...", "Revoke rights from a user"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				change := s.Grant
				if !grant {
					change = s.Revoke
				}
				u, err := change(ctx, args[0], args[1:]...)
				if err != nil {
					return err
				}
				return e.printJSON(u)
			})
		},
	}
}

func newUserListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users and their rights",
		Args:  cobra.NoArgs,
	}
	asJSON := jsonFlag(cmd, "user")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
			l, err := s.List(ctx)
			if err != nil {
				return err
			}
			return writeList(e.out, *asJSON, l, "NAME\tPASSWORD\tRIGHTS", func(w io.Writer, u *users.User) {
				fmt.Fprintf(w, "%s\t%t\t%s\n", u.Name, u.Password, dash(strings.Join(u.Rights, ",")))
			})
		})
	}
	return cmd
}

func newUserRemoveCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user and every token of theirs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				return s.Remove(ctx, args[0])
			})
		},
	}
}

func newUserTokenCreateCmd(e *env) *cobra.Command {
	var label string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an API token; it is printed alone on stdout, once",
		Example: `  TOKEN=$(sessionq user token create alice --label ci)`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				tok, t, err := s.CreateToken(ctx, args[0], label, ttl)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.out, tok)
				fmt.Fprintf(e.errOut, "token %s created for %s\n", t.ID, t.User)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&label, "label", "", "a label to tell the token apart in token list")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "the token's life (default: until revoked)")
	return cmd
}

func newUserTokenListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List a user's tokens (IDs, labels; never the tokens)",
		Args:  cobra.ExactArgs(1),
	}
	asJSON := jsonFlag(cmd, "token")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
			l, err := s.Tokens(ctx, args[0])
			if err != nil {
				return err
			}
			return writeList(e.out, *asJSON, l, "ID\tLABEL\tCREATED\tLOGIN", func(w io.Writer, t *users.Token) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%t\n", t.ID, dash(t.Label), stamp(t.Created), t.Login)
			})
		})
	}
	return cmd
}

func newUserTokenRevokeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME TOKEN-ID",
		Short: "Revoke a token; it stops working at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUsers(cmd, func(ctx context.Context, s *users.Store) error {
				return s.RevokeToken(ctx, args[0], args[1])
			})
		},
	}
}
