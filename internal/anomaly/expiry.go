package anomaly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Defaults of an ExpiryConfig.
const (
	// DefaultExpiryNotice is how long before its expiry a key raises a
	// key_expiring alert: time enough to rotate it before it stops.
	DefaultExpiryNotice = 7 * 24 * time.Hour
	// DefaultExpiryInterval is how often Run scans the keys. A notice of
	// days makes an hour's delay harmless, and a scan lists every active
	// key, so it should not run often.
	DefaultExpiryInterval = time.Hour
)

// The interfaces an ExpiryScanner uses, declared here where they are used.
type (
	// ExpiryKeys lists keys. apikey.KeyStore implements it, and so does
	// an adapter giving the Issuer's Keys the system actor. Keys returns
	// one page ordered by id, as apikey.KeyStore.Keys does; it must be safe
	// for concurrent use.
	ExpiryKeys interface {
		Keys(ctx context.Context, f apikey.KeyFilter) (apikey.Page[apikey.Key], error)
	}

	// ExpiryRaiser raises an alert; *Dispatcher is one. An error means the
	// alert may not have been recorded: the scanner raises it again at its
	// next scan.
	ExpiryRaiser interface {
		Raise(ctx context.Context, a Alert) error
	}

	// ExpiryLedger remembers, across restarts, which expiry alerts were
	// raised: Raised reports whether a key_expiring alert was raised for
	// key with that expiry (compared to the second). AlertLedger backs it
	// with the alert store. An error makes the scanner skip the key until
	// its next scan rather than risk raising twice.
	ExpiryLedger interface {
		Raised(ctx context.Context, key apikey.ID, expiresAt time.Time) (bool, error)
	}
)

// ExpiryConfig holds the settings and dependencies of an ExpiryScanner.
type ExpiryConfig struct {
	// Keys lists the keys to watch; required.
	Keys ExpiryKeys
	// Raiser receives the alerts; required.
	Raiser ExpiryRaiser
	// Ledger, when set, is asked before each alert, so that a restarted
	// process does not raise again what it raised before. Without it the
	// scanner remembers in memory only, and a restart raises once more the
	// alerts of keys still inside their notice.
	Ledger ExpiryLedger
	// Notice is how long before expiry a key alerts; zero means
	// DefaultExpiryNotice.
	Notice time.Duration
	// Interval is how often Run scans; zero means DefaultExpiryInterval.
	Interval time.Duration
	// Logger receives scan failures; nil discards.
	Logger *slog.Logger
	// Now is Run's clock; nil is time.Now.
	Now func() time.Time
}

// ExpiryScanner raises a key_expiring alert for each active key that
// expires within the notice period, once per key and expiry: a key whose
// expiry is extended alerts again when the new expiry comes near, and the
// key that replaces a rotated one alerts for its own expiry. Keys a
// rotation replaced are skipped (they stop at the end of their grace, as
// asked), and so are suspended and revoked keys.
//
// It is safe for concurrent use. Its memory holds one entry per key
// alerted and not yet expired.
type ExpiryScanner struct {
	cfg    ExpiryConfig
	logger *slog.Logger
	now    func() time.Time

	// mu is held through a scan, so that overlapping scans cannot both
	// raise one alert; it guards raised.
	mu     sync.Mutex
	raised map[apikey.ID]time.Time // the expiry each key was alerted for
}

// NewExpiryScanner returns a scanner for cfg. It panics without Keys or
// Raiser, which is a wiring mistake.
func NewExpiryScanner(cfg ExpiryConfig) *ExpiryScanner {
	if cfg.Keys == nil || cfg.Raiser == nil {
		panic("anomaly: NewExpiryScanner without Keys or Raiser")
	}
	if cfg.Notice <= 0 {
		cfg.Notice = DefaultExpiryNotice
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultExpiryInterval
	}
	s := &ExpiryScanner{cfg: cfg, logger: cfg.Logger, now: cfg.Now, raised: make(map[apikey.ID]time.Time)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Run scans at once and then every Interval until ctx is done. Failures
// are logged and retried at the next scan.
func (s *ExpiryScanner) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.ScanOnce(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "key expiry scan incomplete; retried at the next scan",
				logKeyErr, err, logKeyInterval, s.cfg.Interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ScanOnce lists the active keys and raises an alert for each that expires
// after now and within the notice, unless it was raised for that expiry
// already. It returns how many alerts it raised. An error from one key
// does not stop the others; the errors are joined.
func (s *ExpiryScanner) ScanOnce(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	due, err := s.expiring(ctx, now)
	var errs []error
	if err != nil {
		errs = append(errs, err) // raise what was listed before the failure
	}
	n := 0
	for i := range due {
		raised, err := s.raise(ctx, &due[i], now)
		if err != nil {
			errs = append(errs, err)
		}
		if raised {
			n++
		}
	}
	s.prune(now)
	return n, errors.Join(errs...)
}

// expiring lists the keys due for an alert at now.
func (s *ExpiryScanner) expiring(ctx context.Context, now time.Time) ([]apikey.Key, error) {
	var due []apikey.Key
	f := apikey.KeyFilter{Status: apikey.StatusActive}
	for {
		page, err := s.cfg.Keys.Keys(ctx, f)
		if err != nil {
			return due, fmt.Errorf("list active keys: %w", err)
		}
		for _, k := range page.Items {
			if k.Status == apikey.StatusActive && k.ReplacedBy == "" && !k.ExpiresAt.IsZero() &&
				now.Before(k.ExpiresAt) && !k.ExpiresAt.After(now.Add(s.cfg.Notice)) {
				due = append(due, k)
			}
		}
		if page.Next == "" || len(page.Items) == 0 {
			return due, nil
		}
		f.After = apikey.ID(page.Next)
	}
}

// raise raises the alert of k unless it was raised for k's expiry. The
// caller holds s.mu.
func (s *ExpiryScanner) raise(ctx context.Context, k *apikey.Key, now time.Time) (bool, error) {
	expires := k.ExpiresAt.UTC().Truncate(time.Second)
	if s.raised[k.ID].Equal(expires) {
		return false, nil
	}
	if s.cfg.Ledger != nil {
		raised, err := s.cfg.Ledger.Raised(ctx, k.ID, expires)
		if err != nil {
			return false, fmt.Errorf("key %s: was its expiry alert raised: %w", k.ID, err)
		}
		if raised {
			s.raised[k.ID] = expires
			return false, nil
		}
	}
	if err := s.cfg.Raiser.Raise(ctx, ExpiryAlert(k, now)); err != nil {
		return false, fmt.Errorf("raise expiry alert of key %s: %w", k.ID, err)
	}
	s.raised[k.ID] = expires
	return true, nil
}

// prune forgets the keys whose alerted expiry has passed: they cannot
// alert for it again. The caller holds s.mu.
func (s *ExpiryScanner) prune(now time.Time) {
	for id, expires := range s.raised {
		if !now.Before(expires) {
			delete(s.raised, id)
		}
	}
}

// logKeyInterval is the log attribute of the scan interval.
const logKeyInterval = "interval"

// Figure names of a key_expiring alert.
const (
	figureExpiresAt = "expires_at"
	figureDaysLeft  = "days_left"
)

// ExpiryAlert returns the key_expiring alert of k at now. Its figures are
// "expires_at=<RFC 3339, UTC, seconds> days_left=<n>", n the whole days
// left (0 in the last day).
func ExpiryAlert(k *apikey.Key, now time.Time) Alert {
	left := int64(max(k.ExpiresAt.Sub(now), 0) / (24 * time.Hour))
	return Alert{
		Rule:      RuleKeyExpiring,
		Subject:   "key:" + string(k.ID),
		Principal: k.Principal,
		Key:       k.ID,
		Figures: figureExpiresAt + "=" + k.ExpiresAt.UTC().Format(time.RFC3339) +
			" " + figureDaysLeft + "=" + strconv.FormatInt(left, 10),
		At: now,
	}
}

// AlertLedger is an ExpiryLedger backed by the alert store: an expiry
// alert was raised if the store holds a key_expiring alert about the key
// whose figures carry that expires_at. The store keeps a group's latest
// figures, so it answers for the latest expiry alerted about each key,
// which is the one a scan asks about.
type AlertLedger struct {
	Store Store
}

// Raised implements ExpiryLedger.
func (l AlertLedger) Raised(ctx context.Context, key apikey.ID, expiresAt time.Time) (bool, error) {
	alerts, err := l.Store.List(ctx, AlertFilter{Rule: RuleKeyExpiring, Subject: "key:" + string(key)})
	if err != nil {
		return false, err
	}
	want := expiresAt.UTC().Format(time.RFC3339)
	for _, a := range alerts {
		if figure(a.Figures, figureExpiresAt) == want {
			return true, nil
		}
	}
	return false, nil
}
