package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
)

// newPrincipalsCmd returns "scopegate principals", which manages principals
// through the admin API.
func newPrincipalsCmd(e *env) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "principals",
		Short: "Manage principals: the people and services that hold keys",
		Long: `principals manages principals through the admin API (--addr or
SCOPEGATE_ADDR, authenticated with --admin-key or SCOPEGATE_ADMIN_KEY).

A principal's scopes are its ceiling: every scope its keys may ever hold.`,
		// Without these, a mistyped subcommand would print help and exit 0,
		// and a script would carry on as if it had worked.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd)
	cmd.AddCommand(
		newPrincipalsCreateCmd(e, &f),
		newPrincipalsListCmd(e, &f),
		newPrincipalsGetCmd(e, &f),
		newPrincipalsUpdateCmd(e, &f),
		newPrincipalActionCmd(e, &f, "disable", "Disable a principal, which stops all of its keys at once",
			(*adminclient.Client).DisablePrincipal),
		newPrincipalActionCmd(e, &f, "enable", "Enable a disabled principal, which brings its keys back",
			(*adminclient.Client).EnablePrincipal),
	)
	return cmd
}

// principalFlags are the settings of a principal that create and update
// take.
type principalFlags struct {
	kind, audience, team string
	scopes               []string
	limits               limitFlags
}

func (p *principalFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&p.kind, "kind", "", "user or service")
	fs.StringVar(&p.audience, "audience", "", "internal or external")
	fs.StringVar(&p.team, "team", "", "team, for keys:team admins")
	fs.StringSliceVar(&p.scopes, "scope", nil, "ceiling scope, e.g. chatbot or chatbot:gpt-4o-*; repeat or separate with commas")
	p.limits.register(fs)
}

func newPrincipalsCreateCmd(e *env, f *adminFlags) *cobra.Command {
	var id string
	var p principalFlags
	cmd := &cobra.Command{
		Use:   "create --id ID [flags]",
		Short: "Create a principal",
		Example: `  scopegate principals create --id alice@example.com --kind user --team ml \
      --scope chatbot --scope code-generation:claude-sonnet-4-*`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			req := admin.PrincipalRequest{ID: id, Kind: p.kind, Audience: p.audience, Team: p.team,
				Scopes: nonNil(p.scopes), Limits: p.limits.set(cmd.Flags())}
			r, err := s.client.CreatePrincipal(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("create principal %s: %w", id, err)
			}
			return printRecord(s, r, principalBlock)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "principal id, e.g. alice@example.com or svc-billing (required)")
	cmd.MarkFlagRequired("id")
	p.register(cmd)
	return cmd
}

func newPrincipalsListCmd(e *env, f *adminFlags) *cobra.Command {
	var filter adminclient.PrincipalFilter
	var pages pageFlags
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List principals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			filter.Limit = pages.limit
			page, err := collect(&pages, func(after string) (adminclient.Page[admin.Principal], error) {
				filter.After = after
				return s.client.Principals(cmd.Context(), filter)
			})
			if err != nil {
				return fmt.Errorf("list principals: %w", err)
			}
			return printPage(s, page, principalHeader, principalRow)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&filter.Team, "team", "", "only principals of this team")
	fs.StringVar(&filter.Status, "status", "", "only principals with this status: active or disabled")
	pages.register(fs)
	return cmd
}

func newPrincipalsGetCmd(e *env, f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a principal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := s.client.Principal(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("get principal %s: %w", args[0], err)
			}
			return printRecord(s, r, principalBlock)
		},
	}
}

func newPrincipalsUpdateCmd(e *env, f *adminFlags) *cobra.Command {
	var p principalFlags
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a principal; only the flags given are changed",
		Long: `update changes the settings given as flags and leaves the others alone.
--scope replaces the whole ceiling; narrowing it narrows every key of the
principal at once.`,
		Example: `  scopegate principals update svc-billing --team finance --rpm 600`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			id := args[0]
			patch, err := p.patch(s, cmd, id)
			if err != nil {
				return fmt.Errorf("update principal %s: %w", id, err)
			}
			r, err := s.client.UpdatePrincipal(cmd.Context(), id, patch)
			if err != nil {
				return fmt.Errorf("update principal %s: %w", id, err)
			}
			return printRecord(s, r, principalBlock)
		},
	}
	p.register(cmd)
	return cmd
}

// patch builds the PATCH body from the flags the user set. Limits are
// replaced as a whole by the API, so when one is set the others are read
// first and sent unchanged.
func (p *principalFlags) patch(s *session, cmd *cobra.Command, id string) (admin.PrincipalPatch, error) {
	fs := cmd.Flags()
	var patch admin.PrincipalPatch
	if fs.Changed("kind") {
		patch.Kind = &p.kind
	}
	if fs.Changed("audience") {
		patch.Audience = &p.audience
	}
	if fs.Changed("team") {
		patch.Team = &p.team
	}
	if fs.Changed("scope") {
		patch.Scopes = new(nonNil(p.scopes))
	}
	if p.limits.changed(fs) {
		cur, err := s.client.Principal(cmd.Context(), id)
		if err != nil {
			return patch, err
		}
		patch.Limits = p.limits.over(fs, cur.Value.Limits)
	}
	if patch == (admin.PrincipalPatch{}) {
		return patch, errors.New("nothing to change: give at least one of --kind, --audience, --team, --scope or a limit flag")
	}
	return patch, nil
}

// newPrincipalActionCmd returns a command that applies action, such as
// disable, to one principal.
func newPrincipalActionCmd(e *env, f *adminFlags, use, short string,
	action func(*adminclient.Client, context.Context, string) (adminclient.Record[admin.Principal], error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := action(s.client, cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("%s principal %s: %w", use, args[0], err)
			}
			return printRecord(s, r, principalBlock)
		},
	}
}
