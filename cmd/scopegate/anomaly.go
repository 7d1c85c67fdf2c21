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
	"github.com/scopegate/scopegate/internal/metrics"
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
	cfg := anomaly.DispatcherConfig{Audit: s.rec, Store: store, Counter: opts.Counter,
		Suspender: keySuspender{s.issuer}, Principals: s.store, Logger: s.logger,
		GroupWindow: opts.GroupWindow, Actions: opts.Actions, Now: s.now}
	if opts.Webhook.URL != "" {
		al.webhook = notify.New(opts.Webhook, s.logger)
		cfg.Notifier = al.webhook
	}
	al.dispatcher = anomaly.NewDispatcher(cfg)
	al.inbox = anomaly.NewInbox(anomaly.InboxConfig{Store: store, Recorder: s.rec, CanRecord: s.rec.Healthy,
		Logger: s.logger, Now: s.now})
	return al
}

// close stops taking notices: run delivers those queued and returns.
func (al *alerting) close() {
	if al.webhook != nil {
		al.webhook.Close()
	}
}

// run delivers webhook notices until ctx is done or, after close, the
// queue is empty. It returns at once without a webhook.
func (al *alerting) run(ctx context.Context) {
	if al.webhook != nil {
		al.webhook.Run(ctx)
	}
}

// detectorQueue is how many durable records may wait for the detectors,
// and alertQueue how many alerts may wait to be raised. The detectors keep
// up with far more than the gateway's rate; the queues absorb bursts, and
// past them records or alerts are skipped (and counted) rather than slow
// the audit log's writer or the detectors: raising an alert waits for the
// disk and the store, so it runs on its own goroutine.
const (
	detectorQueue = 1 << 16
	alertQueue    = 1 << 12
)

// drainTimeout bounds how long the feed spends, at shutdown, on records
// and alerts still queued.
const drainTimeout = 5 * time.Second

// detectorFeed hands the audit log's durable records to the detectors, off
// the request path (the log's tap only queues them), and what the
// detectors find to the alert dispatcher.
type detectorFeed struct {
	records chan audit.Record
	alerts  chan anomaly.Alert
	// skippedRecords and skippedAlerts count what full queues dropped
	// since it was last logged; the totals, since the start (metrics).
	skippedRecords, skippedAlerts           atomic.Int64
	totalSkippedRecords, totalSkippedAlerts atomic.Int64
}

func newDetectorFeed(size int) *detectorFeed {
	return &detectorFeed{records: make(chan audit.Record, size), alerts: make(chan anomaly.Alert, alertQueue)}
}

// tap is the audit log's Tap: it never blocks.
func (f *detectorFeed) tap(r audit.Record) {
	select {
	case f.records <- r:
	default:
		f.skippedRecords.Add(1)
		f.totalSkippedRecords.Add(1)
	}
}

// run feeds queued records to det and raises what it finds through d,
// until ctx is done; then it drains both queues (within drainTimeout) and
// returns. It logs, at most once a minute and at the end, what full
// queues skipped.
func (f *detectorFeed) run(ctx context.Context, det *anomaly.Detectors, d *anomaly.Dispatcher, logger *slog.Logger) {
	raised := make(chan struct{})
	go func() {
		defer close(raised)
		for a := range f.alerts {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			if err := d.Raise(rctx, a); err != nil {
				logger.Warn("anomaly: alert not raised", "rule", a.Rule, "subject", a.Subject, "err", err)
			}
			cancel()
		}
	}()
	observe := func(r audit.Record) {
		for _, a := range det.Observe(r) {
			select {
			case f.alerts <- a:
			default:
				f.skippedAlerts.Add(1)
				f.totalSkippedAlerts.Add(1)
			}
		}
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-tick.C:
			f.logSkipped(logger)
		case r := <-f.records:
			observe(r)
		}
	}
	deadline := time.After(drainTimeout)
drain:
	for {
		select {
		case r := <-f.records:
			observe(r)
		case <-deadline:
			break drain
		default:
			break drain
		}
	}
	close(f.alerts)
	<-raised
	f.logSkipped(logger)
}

// logSkipped logs what the full queues dropped since the last call.
func (f *detectorFeed) logSkipped(logger *slog.Logger) {
	if n := f.skippedRecords.Swap(0); n > 0 {
		logger.Warn("anomaly: detectors fell behind; audit records not examined", "records", n)
	}
	if n := f.skippedAlerts.Swap(0); n > 0 {
		logger.Warn("anomaly: too many alerts at once; alerts not raised", "alerts", n)
	}
}

// watchAnomaly registers the counters of what the anomaly pipeline could
// not do: records and alerts skipped by full queues, detector state
// displaced by the caps, and the webhook's deliveries.
func watchAnomaly(m *metrics.Metrics, f *detectorFeed, det *anomaly.Detectors, al *alerting) error {
	counters := []struct {
		name, help string
		fn         func() float64
	}{
		{"scopegate_anomaly_records_skipped_total", "Audit records the detectors did not examine because their queue was full.",
			func() float64 { return float64(f.totalSkippedRecords.Load()) }},
		{"scopegate_anomaly_alerts_skipped_total", "Alerts not raised because too many came at once.",
			func() float64 { return float64(f.totalSkippedAlerts.Load()) }},
		{"scopegate_anomaly_state_displaced_total", "Detector entries forgotten before they were idle, because a table was full.",
			func() float64 { return float64(det.Stats().Displaced) }},
	}
	if w := al.webhook; w != nil {
		counters = append(counters, []struct {
			name, help string
			fn         func() float64
		}{
			{"scopegate_webhook_delivered_total", "Alert notices the webhook accepted.", func() float64 { return float64(w.Stats().Delivered) }},
			{"scopegate_webhook_failed_total", "Alert notices given up after every attempt failed.", func() float64 { return float64(w.Stats().Failed) }},
			{"scopegate_webhook_dropped_total", "Alert notices dropped because the webhook's queue was full.", func() float64 { return float64(w.Stats().Dropped) }},
		}...)
	}
	for _, c := range counters {
		if err := m.WatchCounter(c.name, c.help, c.fn); err != nil {
			return err
		}
	}
	return nil
}
