package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/store/postgres"
)

// auditRecorder is what the stack records through: the embedded
// *audit.Log, or in cluster mode (audit.driver postgres) the cluster log.
type auditRecorder interface {
	Authz(ctx context.Context, e audit.Authz) error
	Usage(ctx context.Context, e audit.Usage) error
	Record(ctx context.Context, c apikey.Change) error
	Alert(ctx context.Context, a audit.Alert) error
	Healthy() error
}

var (
	_ auditRecorder = (*audit.Log)(nil)
	_ auditRecorder = (*clusterAudit)(nil)
)

// clusterAudit records into the cluster audit log: every event is
// committed to PostgreSQL (audit_pending) before the call returns, and the
// elected sequencer gives it its place in the tree. No record, no call:
// an Authz that fails refuses the request, as in embedded mode.
type clusterAudit struct {
	app *postgres.AuditAppender

	mu      sync.Mutex
	lastErr error
	errAt   time.Time
}

// clusterUnhealthyFor is how long after a failed append the log reports
// itself unhealthy: /readyz goes 503 and admin changes are refused, until
// a later append succeeds or this time passes (the next append then tries
// the database again).
const clusterUnhealthyFor = time.Second

func (c *clusterAudit) append(ctx context.Context, e audit.Event) error {
	err := c.app.Append(ctx, e)
	c.mu.Lock()
	c.lastErr, c.errAt = err, time.Now()
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cluster audit log: %w", err)
	}
	return nil
}

// Authz commits an authz event; the request is forwarded only after.
func (c *clusterAudit) Authz(ctx context.Context, e audit.Authz) error { return c.append(ctx, e) }

// Usage commits a usage event. Unlike the embedded log, it waits for the
// commit: the call it describes is over, so only the settling goroutine
// waits.
func (c *clusterAudit) Usage(ctx context.Context, e audit.Usage) error { return c.append(ctx, e) }

// Record commits an admin change; it implements apikey.Recorder.
func (c *clusterAudit) Record(ctx context.Context, ch apikey.Change) error {
	return c.append(ctx, audit.Admin(ch))
}

// Alert commits an alert event.
func (c *clusterAudit) Alert(ctx context.Context, a audit.Alert) error { return c.append(ctx, a) }

// Healthy reports the last append's failure for a second after it.
func (c *clusterAudit) Healthy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil && time.Since(c.errAt) < clusterUnhealthyFor {
		return errors.New("cluster audit log cannot write")
	}
	return nil
}

// clusterSigner parses the configured checkpoint signing key.
func clusterSigner(cfg *config.Config) (note.Signer, error) {
	s, err := note.NewSigner(cfg.Audit.SigningKey.Reveal())
	if err != nil {
		// The key is a secret: the error names the field, not the value.
		return nil, errors.New(`audit.signing_key: not a note signer key (generate one with "scopegate audit keygen")`)
	}
	return s, nil
}

func newAuditKeygenCmd(e *env) *cobra.Command {
	var origin string
	cmd := &cobra.Command{
		Use:   "keygen [--origin NAME]",
		Short: "Generate the checkpoint signing key of a cluster audit log",
		Long: `keygen generates an Ed25519 note key pair for the cluster audit log
(audit.driver postgres): it prints the signer key on the first line and the
verifier key on the second. Give the signer key to every replica as
audit.signing_key (a secret: through the environment), and the verifier key
to auditors.`,
		Example: `  scopegate audit keygen --origin scopegate/prod/audit`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := note.GenerateKey(rand.Reader, origin)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n%s\n", skey, vkey)
			return err
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "scopegate/cluster/audit", "the log's name in its checkpoints")
	return cmd
}

// exportClusterAudit writes the cluster log of the config at path into
// the new directory out, in the embedded layout, so that "audit verify"
// checks it as it checks an embedded log.
func exportClusterAudit(ctx context.Context, e *env, path, out string) error {
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return err
	}
	if cfg.Audit.Driver != "postgres" {
		return fmt.Errorf("config %s: audit.driver is %s, not postgres: export with --data-dir", path, cfg.Audit.Driver)
	}
	db, err := postgres.Open(ctx, cfg.Store.DSN, postgres.Options{})
	if err != nil {
		return fmt.Errorf("open the postgres store: %w", err)
	}
	defer db.Close()
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	return db.ExportAudit(ctx, out)
}

// watchAuditLog has the metrics watch the embedded audit log; the cluster
// log has no local size or checkpoint to watch.
func watchAuditLog(m *metrics.Metrics, s *stack) error {
	if s.audit == nil {
		return nil
	}
	return m.WatchAuditLog(s.audit, s.now)
}
