package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/notify"
)

// keySuspender runs the suspend_key action of the anomaly rules through
// the Issuer, as the system actor acting for the rule: the key.suspend
// event and the key's updated_by read "system/anomaly.<rule>". An admin
// undoes it with `scopegate keys resume`.
type keySuspender struct {
	issuer *apikey.Issuer
}

var _ anomaly.KeySuspender = keySuspender{}

// SuspendKey suspends key id; reason is anomaly.SuspendReason(rule). A
// revoked key is already stopped, which is not a failure.
func (k keySuspender) SuspendKey(ctx context.Context, id apikey.ID, reason string) error {
	a := apikey.SystemActor
	// The actor's key slot names the rule that acted: there is no admin
	// key behind the change, and "system" alone would not say why.
	a.KeyID = apikey.ID(reason)
	_, err := k.issuer.SuspendKey(ctx, a, id)
	if errors.Is(err, apikey.ErrConflict) {
		return nil // revoked
	}
	return err
}

// alertingOptions are the settings of the alert pipeline, from the
// configuration.
type alertingOptions struct {
	// GroupWindow and Actions are anomaly.DispatcherConfig's.
	GroupWindow time.Duration
	Actions     map[string]string
	// Webhook is where notices are posted; an empty URL posts nothing.
	Webhook notify.Config
	// Counter counts alerts by rule (the metrics); nil counts nothing.
	Counter anomaly.AlertCounter
}

// alerting is the alert pipeline of a server: the Dispatcher that the
// detectors and the limiter raise alerts through, the Inbox the admin API
// lists and acknowledges them with, and the webhook, if any.
type alerting struct {
	dispatcher *anomaly.Dispatcher
	inbox      *anomaly.Inbox
	webhook    *notify.Webhook // nil without a webhook URL
}

// newAlerting builds the alert pipeline on the stack: alerts are recorded
// in its audit log and kept in store (the alert store of the stack's
// database), keys are suspended through its Issuer, and teams read from
// its store.
func newAlerting(s *stack, store anomaly.Store, opts alertingOptions) *alerting {
	al := &alerting{}
	cfg := anomaly.DispatcherConfig{Audit: s.audit, Store: store, Counter: opts.Counter,
		Suspender: keySuspender{s.issuer}, Principals: s.store, Logger: s.logger,
		GroupWindow: opts.GroupWindow, Actions: opts.Actions, Now: s.now}
	if opts.Webhook.URL != "" {
		al.webhook = notify.New(opts.Webhook, s.logger)
		cfg.Notifier = al.webhook
	}
	al.dispatcher = anomaly.NewDispatcher(cfg)
	al.inbox = anomaly.NewInbox(anomaly.InboxConfig{Store: store, Recorder: s.audit, CanRecord: s.audit.Healthy,
		Logger: s.logger, Now: s.now})
	return al
}

// run delivers webhook notices until ctx is done. It returns at once
// without a webhook.
func (al *alerting) run(ctx context.Context) {
	if al.webhook != nil {
		al.webhook.Run(ctx)
	}
}

// detectorQueue is how many durable records may wait for the detectors.
// The detectors keep up with far more than the gateway's rate; the queue
// absorbs bursts, and past it records are skipped (and counted) rather
// than slow the audit log's writer.
const detectorQueue = 1 << 16

// detectorFeed hands the audit log's durable records to the detectors, off
// the request path: the log's tap only queues them.
type detectorFeed struct {
	ch      chan audit.Record
	dropped atomic.Int64
}

func newDetectorFeed(size int) *detectorFeed {
	return &detectorFeed{ch: make(chan audit.Record, size)}
}

// tap is the audit log's Tap: it never blocks.
func (f *detectorFeed) tap(r audit.Record) {
	select {
	case f.ch <- r:
	default:
		f.dropped.Add(1)
	}
}

// run feeds queued records to det and raises what it finds through d
// until ctx is done. It logs, at most once a minute, how many records
// were skipped because the queue was full.
func (f *detectorFeed) run(ctx context.Context, det *anomaly.Detectors, d *anomaly.Dispatcher, logger *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n := f.dropped.Swap(0); n > 0 {
				logger.Warn("anomaly: detectors fell behind; audit records skipped", "records", n)
			}
		case r := <-f.ch:
			for _, a := range det.Observe(r) {
				if err := d.Raise(ctx, a); err != nil {
					logger.Warn("anomaly: alert not raised", "rule", a.Rule, "subject", a.Subject, "err", err)
				}
			}
		}
	}
}
