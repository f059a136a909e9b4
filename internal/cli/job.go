package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/jobs"
)

func newJobCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Inspect jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newJobGetCmd(e))
	return cmd
}

func newJobGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Print a job as JSON",
		Long: `Print a job as JSON: its state (pending, parked, running, retrying,
succeeded, failed, cancelled), session, sequence number, attempts, last error,
payload and result (base64), and times.`,
		Example: `  sessionq job get jabcdefghijklmnopqrstuvwxyz
  sessionq job get "$(sessionq submit --type echo --payload hi)"`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("job get takes one job ID, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := jobs.ValidateJobID(id); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rdb, err := openRedis(ctx, cfg.Redis.URL)
			if err != nil {
				return err
			}
			defer rdb.Close()
			c, err := jobs.NewClient(rdb, cfg.Client.jobsConfig())
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := c.Get(ctx, id)
			if errors.Is(err, jobs.ErrNotFound) {
				return fmt.Errorf("job %s not found (never submitted, or its record outlived its retention)", id)
			}
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(in, "", "  ")
			if err != nil {
				return fmt.Errorf("encoding job %s: %w", id, err)
			}
			_, err = fmt.Fprintf(e.out, "%s\n", b)
			return err
		},
	}
}
