package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newInitCmd(e *env) *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, the pepper, the store and the first admin key",
		Long: `init prepares a data directory: it creates the directory, the pepper that
keys are hashed with, the store (applying its migrations, PostgreSQL too), and
a first admin principal "admin" with an admin (sga_) key. The key is printed once on stdout, alone, so a script can
capture it; it is never shown again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(e)
			if err != nil {
				return err
			}
			s, err := openStack(cmd.Context(), e, cfg, newLogger(e.stderr, cfg.Log.Level), stackOptions{migrate: true})
			if err != nil {
				return err
			}
			defer s.Close()
			secret, err := s.bootstrap(cmd.Context())
			if errors.Is(err, errInitialized) {
				return fmt.Errorf("%s: %w", cfg.DataDir, err)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, secret.Reveal())
			return err
		},
	}
	f.register(cmd)
	return cmd
}
