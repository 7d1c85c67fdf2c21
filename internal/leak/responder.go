package leak

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Log attribute keys.
const (
	logKeyID = "key_id"
	logVia   = "via"
	logFrom  = "from"
	logErr   = "err"
)

// Holders finds the stored key behind a presented key text, whatever its
// state; *apikey.Verifier is one. A key text that is not a stored key is
// apikey.ErrInvalidKey.
type Holders interface {
	Holder(ctx context.Context, presented string) (apikey.Key, error)
}

// Revoker revokes a reported key; *apikey.Issuer is one. It reports
// whether this call revoked the key.
type Revoker interface {
	RevokeLeaked(ctx context.Context, id apikey.ID, r apikey.Report) (apikey.Key, bool, error)
}

// Alerter raises alerts; *anomaly.Dispatcher is one.
type Alerter interface {
	Raise(ctx context.Context, a anomaly.Alert) error
}

// Responder answers leak reports.
type Responder struct {
	holders Holders
	revoker Revoker
	alerter Alerter
	logger  *slog.Logger
	now     func() time.Time
}

// NewResponder returns a Responder. alerter may be nil (no alerts),
// logger nil (no logs) and now nil (time.Now).
func NewResponder(holders Holders, revoker Revoker, alerter Alerter, logger *slog.Logger, now func() time.Time) *Responder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Responder{holders: holders, revoker: revoker, alerter: alerter, logger: logger, now: now}
}

// Live reports whether text is a key that would be accepted now: a stored
// key, active, within its lifetime. It never says why a key is not live.
func (r *Responder) Live(ctx context.Context, text string) (bool, error) {
	k, err := r.holders.Holder(ctx, text)
	switch {
	case errors.Is(err, apikey.ErrInvalidKey):
		return false, nil
	case err != nil:
		return false, err
	}
	return k.Usable(r.now()) == nil, nil
}

// Outcome is what a report did.
type Outcome int

// The outcomes of a report.
const (
	// NotAKey: the text is no stored key (malformed, unknown id or wrong
	// secret).
	NotAKey Outcome = iota
	// AlreadyRevoked: the key was revoked before the report.
	AlreadyRevoked
	// Revoked: the report revoked the key.
	Revoked
)

// Report revokes the key whose text was reported leaked, unless it is no
// key or already revoked. A key that is suspended or expired is revoked
// too: it could be resumed or extended, and its secret is out. On a
// revocation it raises a key_leaked alert about the key to its owner; an
// alert that cannot be raised is logged, not returned, since the key is
// dead either way.
func (r *Responder) Report(ctx context.Context, text string, rep apikey.Report) (Outcome, error) {
	k, err := r.holders.Holder(ctx, text)
	switch {
	case errors.Is(err, apikey.ErrInvalidKey):
		return NotAKey, nil
	case err != nil:
		return NotAKey, err
	}
	k, revoked, err := r.revoker.RevokeLeaked(ctx, k.ID, rep)
	if err != nil {
		return NotAKey, err
	}
	if !revoked {
		return AlreadyRevoked, nil
	}
	r.logger.WarnContext(ctx, "leaked key revoked", logKeyID, k.ID, logVia, rep.Via, logFrom, rep.From)
	if r.alerter != nil {
		a := anomaly.Alert{Rule: anomaly.RuleKeyLeaked, Subject: "key:" + string(k.ID), Principal: k.Principal, Key: k.ID,
			Figures: figures(rep), At: r.now()}
		if err := r.alerter.Raise(ctx, a); err != nil {
			r.logger.ErrorContext(ctx, "key_leaked alert not raised", logKeyID, k.ID, logErr, err)
		}
	}
	return Revoked, nil
}

// figures describes a report as the alert's name=value pairs; values
// never hold spaces.
func figures(rep apikey.Report) string {
	f := "via=" + rep.Via + " from=" + rep.From
	if rep.URL != "" {
		f += " url=" + strings.ReplaceAll(rep.URL, " ", "%20")
	}
	return f
}
