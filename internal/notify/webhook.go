package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
)

var _ anomaly.Notifier = (*Webhook)(nil)

// Defaults of a [Config].
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 5
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultQueueSize   = 256
)

// Config is the configuration of a Webhook. Zero fields take the
// defaults.
type Config struct {
	// URL receives the POSTs; http or https. It is treated as a secret.
	URL string
	// Timeout bounds each attempt, from connecting to reading the answer.
	Timeout time.Duration
	// MaxAttempts is how often a notice is tried in all.
	MaxAttempts int
	// Backoff is the wait before the first retry; each further retry
	// waits twice as long, up to MaxBackoff. Each wait is jittered to
	// between half and all of it.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// QueueSize is how many notices wait for delivery at most; past it,
	// new ones are dropped.
	QueueSize int
}

func (c *Config) withDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
}

// Validate checks c.URL: an absolute http or https URL with a host. Its
// errors never quote the URL.
func (c *Config) Validate() error {
	_, err := parseURL(c.URL)
	return err
}

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("webhook url is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("webhook url must start with https:// or http://")
	case u.Host == "":
		return nil, errors.New("webhook url has no host")
	}
	return u, nil
}

// Stats counts what a Webhook did with the notices it was given.
type Stats struct {
	// Delivered were answered 2xx.
	Delivered uint64
	// Failed were given up: a final answer, or MaxAttempts tries.
	Failed uint64
	// Dropped never got a try: the queue was full, or the Webhook closed.
	Dropped uint64
}

// Webhook posts alert notices to a URL; see the package documentation. It
// implements anomaly.Notifier. Notify is safe for concurrent use; Run
// must be called once.
type Webhook struct {
	cfg    Config
	url    *url.URL // nil if cfg.URL is invalid: every notice fails
	host   string   // what logs may say of the URL
	client *http.Client
	logger *slog.Logger

	queue     chan anomaly.Notice
	closeOnce sync.Once
	closed    chan struct{}

	delivered, failed, dropped atomic.Uint64

	// sleep waits d or until ctx is done, and jitter spreads a backoff;
	// tests replace them.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

// New returns a Webhook for cfg, logging to logger (nil discards). An
// invalid URL (see Config.Validate) makes every delivery fail and say so
// in the log.
func New(cfg Config, logger *slog.Logger) *Webhook {
	cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Webhook{cfg: cfg, logger: logger, queue: make(chan anomaly.Notice, cfg.QueueSize),
		closed: make(chan struct{}), sleep: sleepCtx, jitter: equalJitter}
	if u, err := parseURL(cfg.URL); err == nil {
		w.url, w.host = u, u.Host
	}
	w.client = &http.Client{
		// The URL is a secret: a redirect would send the alert elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return w
}

// Log attribute keys.
const (
	logKeyHost    = "webhook_host"
	logKeyRule    = "rule"
	logKeySubject = "subject"
	logKeyAlertID = "alert_id"
	logKeyAttempt = "attempts"
	logKeyStatus  = "status"
	logKeyErr     = "err"
)

// Notify queues n for delivery and returns at once. If the queue is full,
// or the Webhook is closed, n is dropped, counted and logged.
func (w *Webhook) Notify(ctx context.Context, n anomaly.Notice) {
	select {
	case <-w.closed:
		w.drop(ctx, n, "webhook closed")
		return
	default:
	}
	select {
	case w.queue <- n:
	default:
		w.drop(ctx, n, "webhook queue full")
	}
}

func (w *Webhook) drop(ctx context.Context, n anomaly.Notice, why string) {
	w.dropped.Add(1)
	w.logger.WarnContext(ctx, "alert notice dropped: "+why, logKeyHost, w.host, logKeyRule, n.Rule,
		logKeySubject, n.Subject, logKeyAlertID, n.AlertID)
}

// Run delivers queued notices, one at a time, until ctx is done, or until
// Close was called and the queue is empty. Cancelling ctx abandons the
// notice being delivered and those queued.
func (w *Webhook) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-w.queue:
			w.deliver(ctx, n)
		case <-w.closed:
			for {
				select {
				case n := <-w.queue:
					w.deliver(ctx, n)
				default:
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
	}
}

// Close stops taking notices; Run delivers those queued and returns. It
// may be called more than once.
func (w *Webhook) Close() {
	w.closeOnce.Do(func() { close(w.closed) })
}

// Stats returns the counts so far.
func (w *Webhook) Stats() Stats {
	return Stats{Delivered: w.delivered.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
}

// deliver posts n, retrying as the package documentation says.
func (w *Webhook) deliver(ctx context.Context, n anomaly.Notice) {
	body, err := payload(n)
	if err != nil {
		w.giveUp(ctx, n, 0, 0, err)
		return
	}
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := w.post(ctx, body)
		if err == nil && status/100 == 2 {
			w.delivered.Add(1)
			return
		}
		if err == nil {
			err = fmt.Errorf("answered %d %s", status, http.StatusText(status))
		}
		if ctx.Err() != nil {
			w.giveUp(ctx, n, attempt, status, fmt.Errorf("%w (shutting down)", err))
			return
		}
		if !retryable(status) || attempt >= w.cfg.MaxAttempts {
			w.giveUp(ctx, n, attempt, status, err)
			return
		}
		wait := max(w.jitter(w.backoff(attempt)), retryAfter)
		wait = min(wait, w.cfg.MaxBackoff)
		w.logger.DebugContext(ctx, "alert notice not delivered; retrying", logKeyHost, w.host, logKeyAlertID, n.AlertID,
			logKeyAttempt, attempt, logKeyStatus, status, logKeyErr, err.Error(), "retry_in", wait.String())
		if w.sleep(ctx, wait) != nil {
			w.giveUp(ctx, n, attempt, status, fmt.Errorf("%w (shutting down)", err))
			return
		}
	}
}

func (w *Webhook) giveUp(ctx context.Context, n anomaly.Notice, attempts, status int, err error) {
	w.failed.Add(1)
	w.logger.ErrorContext(ctx, "alert notice not delivered", logKeyHost, w.host, logKeyRule, n.Rule,
		logKeySubject, n.Subject, logKeyAlertID, n.AlertID, logKeyAttempt, attempts, logKeyStatus, status,
		logKeyErr, err.Error())
}

// retryable reports whether an attempt answered status (0 for no answer)
// may succeed if tried again.
func retryable(status int) bool {
	return status == 0 || status == http.StatusTooManyRequests || status >= 500
}

// backoff returns the wait before retry n (1-based), before jitter.
func (w *Webhook) backoff(n int) time.Duration {
	d := w.cfg.Backoff
	for range n - 1 {
		if d >= w.cfg.MaxBackoff {
			break
		}
		d *= 2
	}
	return min(d, w.cfg.MaxBackoff)
}

// post makes one attempt and returns the answer's status (0 if there was
// none) and how long its Retry-After header asks to wait. Its errors
// never quote the URL.
func (w *Webhook) post(ctx context.Context, body []byte) (status int, retryAfter time.Duration, err error) {
	if w.url == nil {
		return 0, 0, errors.New("webhook url is invalid")
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("webhook request cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scopegate-webhook")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, withoutURL(err)
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused; its
	// content is not logged, as a server may echo what it was sent.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// withoutURL returns the cause of an HTTP client error without the
// *url.Error around it, which quotes the URL.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
// Anything else, or a time past, is no wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 24*60*60)) * time.Second // the caller caps it further
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// equalJitter returns a random wait between d/2 and d, so that many
// gateways retrying one server spread out, and each still backs off.
func equalJitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
