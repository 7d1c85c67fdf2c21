package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
)

// newKeysCmd returns "scopegate keys", which manages API keys through the
// admin API.
func newKeysCmd(e *env) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys: create, list, change, suspend, revoke, rotate",
		Long: `keys manages API keys through the admin API (--addr or SCOPEGATE_ADDR,
authenticated with --admin-key or SCOPEGATE_ADMIN_KEY).

A key is shown once, when it is created or rotated; only its id and last
four characters are shown after that.`,
		// Without these, a mistyped subcommand would print help and exit 0,
		// and a script would carry on as if it had worked.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd)
	cmd.AddCommand(
		newKeysCreateCmd(e, &f),
		newKeysListCmd(e, &f),
		newKeysGetCmd(e, &f),
		newKeysUpdateCmd(e, &f),
		newKeyActionCmd(e, &f, "suspend", "Suspend a key until it is resumed", (*adminclient.Client).SuspendKey),
		newKeyActionCmd(e, &f, "resume", "Resume a suspended key", (*adminclient.Client).ResumeKey),
		newKeyActionCmd(e, &f, "revoke", "Revoke a key for good", (*adminclient.Client).RevokeKey),
		newKeysRotateCmd(e, &f),
		newKeysHygieneCmd(e, &f),
	)
	return cmd
}

// keyCreateFlags are the flags of keys create.
type keyCreateFlags struct {
	principal, name, kind, env string
	scopes, cidrs              []string
	ttl, expiresAt, notBefore  string
	limits                     limitFlags
}

func (k *keyCreateFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&k.principal, "principal", "", "principal the key belongs to (required)")
	fs.StringVar(&k.name, "name", "", "name, to tell keys apart")
	fs.StringVar(&k.kind, "kind", "", "data (an sgk_ key for the gateway, the default) or admin (an sga_ key for the admin API)")
	fs.StringSliceVar(&k.scopes, "scope", nil, "scope, e.g. chatbot:gpt-4o-mini, or an admin role for admin keys; repeat or separate with commas")
	fs.StringVar(&k.env, "env", "", "live (the default) or test")
	fs.StringVar(&k.ttl, "ttl", "", "lifetime, e.g. 20m, 720h or 90d (default: the server's, 90 days)")
	fs.StringVar(&k.expiresAt, "expires-at", "", "expiry time, RFC 3339 (instead of --ttl)")
	fs.StringVar(&k.notBefore, "not-before", "", "time the key starts to work, RFC 3339")
	fs.StringSliceVar(&k.cidrs, "cidr", nil, "client network allowed to use the key, e.g. 10.0.0.0/8; repeat or separate with commas (default: any)")
	k.limits.register(fs)
	cmd.MarkFlagRequired("principal")
	cmd.MarkFlagsMutuallyExclusive("ttl", "expires-at")
}

func (k *keyCreateFlags) request(cmd *cobra.Command) (admin.KeyRequest, error) {
	fs := cmd.Flags()
	expiresAt, err := timeFlag(fs, "expires-at", k.expiresAt)
	if err != nil {
		return admin.KeyRequest{}, err
	}
	notBefore, err := timeFlag(fs, "not-before", k.notBefore)
	if err != nil {
		return admin.KeyRequest{}, err
	}
	return admin.KeyRequest{Principal: k.principal, Name: k.name, Kind: k.kind, Scopes: nonNil(k.scopes),
		Env: k.env, TTL: k.ttl, ExpiresAt: expiresAt, NotBefore: notBefore, CIDRs: k.cidrs,
		Limits: k.limits.set(fs)}, nil
}

func newKeysCreateCmd(e *env, f *adminFlags) *cobra.Command {
	var k keyCreateFlags
	cmd := &cobra.Command{
		Use:   "create --principal ID --scope SCOPE [flags]",
		Short: "Create a key; it is printed once",
		Example: `  scopegate keys create --principal alice@example.com --name laptop --scope chatbot:gpt-4o-mini
  scopegate keys create --principal ci --scope code-generation --ttl 20m -o json
  scopegate keys create --principal team-lead --kind admin --scope keys:team`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			req, err := k.request(cmd)
			if err != nil {
				return err
			}
			r, err := s.client.CreateKey(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("create key for %s: %w", k.principal, err)
			}
			return printNewKey(s, r)
		},
	}
	k.register(cmd)
	return cmd
}

// printNewKey prints a key record that carries the key itself, with the
// warning that it will not be shown again. In JSON mode the key is the
// record's "key" field and stderr stays quiet for scripts.
func printNewKey(s *session, r adminclient.Record[admin.Key]) error {
	if err := printRecord(s, r, keyBlock); err != nil {
		return err
	}
	if !s.json {
		fmt.Fprintln(s.stderr, oneTimeKeyWarning)
	}
	return nil
}

func newKeysListCmd(e *env, f *adminFlags) *cobra.Command {
	var filter adminclient.KeyFilter
	var pages pageFlags
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			filter.Limit = pages.limit
			page, err := collect(&pages, func(after string) (adminclient.Page[admin.Key], error) {
				filter.After = after
				return s.client.Keys(cmd.Context(), filter)
			})
			if err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
			return printPage(s, page, keyHeader, keyRow)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&filter.Principal, "principal", "", "only keys of this principal")
	fs.StringVar(&filter.Team, "team", "", "only keys of principals of this team")
	fs.StringVar(&filter.Status, "status", "", "only keys with this status: active, suspended or revoked")
	pages.register(fs)
	return cmd
}

func newKeysGetCmd(e *env, f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a key (never the key itself)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := s.client.Key(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("get key %s: %w", args[0], err)
			}
			return printRecord(s, r, keyBlock)
		},
	}
}

// keyUpdateFlags are the flags of keys update.
type keyUpdateFlags struct {
	name, expiresAt string
	scopes, cidrs   []string
	clearCIDRs      bool
	limits          limitFlags
}

func newKeysUpdateCmd(e *env, f *adminFlags) *cobra.Command {
	var k keyUpdateFlags
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a key; only the flags given are changed",
		Long: `update changes the settings given as flags and leaves the others alone.
--scope and --cidr replace the whole list; --clear-cidrs lets the key work
from any network again.`,
		Example: `  scopegate keys update AbCdEfGhIjKlMnOp --scope chatbot:gpt-4o-mini --rpm 60`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			id := args[0]
			patch, err := k.patch(s, cmd, id)
			if err != nil {
				return fmt.Errorf("update key %s: %w", id, err)
			}
			r, err := s.client.UpdateKey(cmd.Context(), id, patch)
			if err != nil {
				return fmt.Errorf("update key %s: %w", id, err)
			}
			return printRecord(s, r, keyBlock)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&k.name, "name", "", "new name")
	fs.StringSliceVar(&k.scopes, "scope", nil, "new scopes, replacing the old; repeat or separate with commas")
	fs.StringVar(&k.expiresAt, "expires-at", "", "new expiry time, RFC 3339")
	fs.StringSliceVar(&k.cidrs, "cidr", nil, "new client networks, replacing the old; repeat or separate with commas")
	fs.BoolVar(&k.clearCIDRs, "clear-cidrs", false, "remove every network restriction")
	k.limits.register(fs)
	cmd.MarkFlagsMutuallyExclusive("cidr", "clear-cidrs")
	return cmd
}

// patch builds the PATCH body from the flags the user set. Limits are
// replaced as a whole by the API, so when one is set the others are read
// first and sent unchanged.
func (k *keyUpdateFlags) patch(s *session, cmd *cobra.Command, id string) (admin.KeyPatch, error) {
	fs := cmd.Flags()
	var patch admin.KeyPatch
	var err error
	if fs.Changed("name") {
		patch.Name = &k.name
	}
	if fs.Changed("scope") {
		patch.Scopes = new(nonNil(k.scopes))
	}
	if patch.ExpiresAt, err = timeFlag(fs, "expires-at", k.expiresAt); err != nil {
		return patch, err
	}
	switch {
	case fs.Changed("cidr"):
		patch.CIDRs = new(nonNil(k.cidrs))
	case k.clearCIDRs:
		patch.CIDRs = new([]string{})
	}
	if k.limits.changed(fs) {
		cur, err := s.client.Key(cmd.Context(), id)
		if err != nil {
			return patch, err
		}
		patch.Limits = k.limits.over(fs, cur.Value.Limits)
	}
	if patch == (admin.KeyPatch{}) {
		return patch, errors.New("nothing to change: give at least one of --name, --scope, --expires-at, --cidr, --clear-cidrs or a limit flag")
	}
	return patch, nil
}

// newKeyActionCmd returns a command that applies action, such as revoke,
// to one key.
func newKeyActionCmd(e *env, f *adminFlags, use, short string,
	action func(*adminclient.Client, context.Context, string) (adminclient.Record[admin.Key], error)) *cobra.Command {
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
				return fmt.Errorf("%s key %s: %w", use, args[0], err)
			}
			return printRecord(s, r, keyBlock)
		},
	}
}

func newKeysRotateCmd(e *env, f *adminFlags) *cobra.Command {
	var grace, idempotencyKey string
	cmd := &cobra.Command{
		Use:   "rotate ID [flags]",
		Short: "Replace a key with a new one of the same settings; the new key is printed once",
		Long: `rotate creates a new key with the settings of key ID and prints it once. The
old key keeps working for the grace period (--grace, default 24h; 0s stops
it at once), so clients can switch over.

Each run sends an Idempotency-Key header. By default it is a new random
value per run, so running the command twice rotates twice; within one run
the client resends the same value when a connection fails, so a network
retry never creates a second key. To make a rerun safe as well (say, after
a timeout left you unsure whether the rotation happened), pass the same
--idempotency-key each time: the server then answers with the key it
already created. A failed run that may have rotated prints the value to
reuse.`,
		Example: `  scopegate keys rotate AbCdEfGhIjKlMnOp --grace 1h
  scopegate keys rotate AbCdEfGhIjKlMnOp --idempotency-key deploy-2026-05-01 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			id, idem := args[0], idempotencyKey
			if idem == "" {
				idem = newIdempotencyKey()
			}
			var g *string
			if cmd.Flags().Changed("grace") {
				g = &grace
			}
			r, err := s.client.RotateKey(cmd.Context(), id, g, idem)
			if err != nil {
				return rotateError(id, idem, idempotencyKey == "", err)
			}
			return printNewKey(s, r)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&grace, "grace", "", "how long the old key keeps working, e.g. 24h, 1d or 0s (default: the server's, 24h; at most 30d)")
	fs.StringVar(&idempotencyKey, "idempotency-key", "", "Idempotency-Key header; reuse a value to repeat a rotation safely (default: random per run)")
	return cmd
}

// rotateError explains a failed rotation. When the outcome is unknown (the
// connection failed, or the server failed) and the idempotency key was
// generated, the user needs it to retry without risking a second key.
func rotateError(id, idem string, generated bool, err error) error {
	apiErr, isAPI := errors.AsType[*adminclient.APIError](err)
	if generated && (!isAPI || apiErr.Status >= 500) {
		return fmt.Errorf("rotate key %s: %w (the rotation may have happened; to retry safely, run again with --idempotency-key %s)", id, err, idem)
	}
	return fmt.Errorf("rotate key %s: %w", id, err)
}
