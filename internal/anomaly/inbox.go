package anomaly

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// AckAction is the admin event that records an acknowledgement, with the
// alert's id as its target. Event names under "alert." belong to the
// alert events themselves, so the action is named for what is
// acknowledged: a group of alerts.
const AckAction = "alert_group.ack"

// InboxConfig holds the dependencies of an Inbox.
type InboxConfig struct {
	// Store holds the alerts; required.
	Store Store
	// Recorder makes each acknowledgement an admin event; the audit log
	// provides it. nil records nothing.
	Recorder apikey.Recorder
	// CanRecord, when set, is asked before an acknowledgement; an error
	// refuses it with apikey.ErrUnrecorded, so that no change is made
	// that the audit log cannot record.
	CanRecord func() error
	// Logger receives failures; nil discards.
	Logger *slog.Logger
	// Now is the clock of acknowledgements; nil is time.Now.
	Now func() time.Time
}

// Inbox is what admins read alerts from and acknowledge them with, each
// within its reach, as the key lists are scoped: an admin reaches every
// alert; a keys:team admin the alerts about principals of its team (their
// team when the alert was raised); a keys:self admin those about its own
// principal. Alerts about no principal, such as a network's, are for
// admins only. It is safe for concurrent use.
type Inbox struct {
	cfg    InboxConfig
	logger *slog.Logger
	now    func() time.Time
}

// NewInbox returns an Inbox for cfg.
func NewInbox(cfg InboxConfig) *Inbox {
	in := &Inbox{cfg: cfg, logger: cfg.Logger, now: cfg.Now}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	if in.now == nil {
		in.now = time.Now
	}
	return in
}

// List returns a page of the alerts f selects within a's reach, newest
// group first. f.Before is the cursor: pass the Next of the previous page,
// as a number. A filter outside the reach, such as a keys:team admin
// asking for another team, answers an empty page. apikey.ErrForbidden if a
// holds no admin role.
func (in *Inbox) List(ctx context.Context, a apikey.Actor, f AlertFilter) (apikey.Page[StoredAlert], error) {
	if !hasRole(a) {
		return apikey.Page[StoredAlert]{}, apikey.ErrForbidden
	}
	if !reach(a, &f) {
		return apikey.Page[StoredAlert]{}, nil
	}
	size := f.Limit
	if size <= 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	f.Limit = size + 1 // one more tells whether there is a next page
	items, err := in.cfg.Store.List(ctx, f)
	if err != nil {
		return apikey.Page[StoredAlert]{}, fmt.Errorf("list alerts: %w", err)
	}
	if len(items) <= size {
		return apikey.Page[StoredAlert]{Items: items}, nil
	}
	items = items[:size]
	return apikey.Page[StoredAlert]{Items: items, Next: strconv.FormatInt(items[size-1].ID, 10)}, nil
}

// Ack records that a acknowledged alert id, and returns the alert. The
// acknowledgement is an admin event (AckAction). Acknowledging an
// acknowledged alert changes and records nothing, and returns who
// acknowledged it first. ErrNotFound if the alert does not exist or is
// outside a's reach; apikey.ErrForbidden if a holds no admin role.
func (in *Inbox) Ack(ctx context.Context, a apikey.Actor, id int64) (StoredAlert, error) {
	if !hasRole(a) {
		return StoredAlert{}, apikey.ErrForbidden
	}
	f := AlertFilter{ID: id, Limit: 1}
	if id <= 0 || !reach(a, &f) {
		return StoredAlert{}, ErrNotFound
	}
	found, err := in.cfg.Store.List(ctx, f)
	if err != nil {
		return StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, err)
	}
	if len(found) == 0 {
		return StoredAlert{}, ErrNotFound
	}
	if found[0].Acked() {
		return found[0], nil
	}
	if in.cfg.CanRecord != nil {
		if err := in.cfg.CanRecord(); err != nil {
			in.logger.WarnContext(ctx, "alert ack refused: the audit log cannot record it", logKeyAlertID, id, logKeyErr, err)
			return StoredAlert{}, apikey.ErrUnrecorded
		}
	}
	by, at := a.String(), in.now().UTC().Truncate(time.Microsecond)
	acked, err := in.cfg.Store.Ack(ctx, id, by, at)
	if err != nil {
		return StoredAlert{}, fmt.Errorf("ack alert %d: %w", id, err)
	}
	if acked.AckedBy != by || !acked.AckedAt.Equal(at) {
		return acked, nil // someone else's ack came first
	}
	return acked, in.record(ctx, a, acked)
}

// record makes the acknowledgement of s an admin event. The ack is already
// stored, so a failure cannot undo it; it is logged and returned so that
// the caller learns the audit trail is broken.
func (in *Inbox) record(ctx context.Context, a apikey.Actor, s StoredAlert) error {
	if in.cfg.Recorder == nil {
		return nil
	}
	c := apikey.Change{Action: AckAction, Actor: a.String(), Target: strconv.FormatInt(s.ID, 10), Principal: s.Principal,
		Fields: []apikey.FieldChange{
			{Name: "acked_at", After: s.AckedAt.UTC().Format(time.RFC3339)},
			{Name: "acked_by", After: s.AckedBy},
		}}
	if err := in.cfg.Recorder.Record(ctx, c); err != nil {
		in.logger.ErrorContext(ctx, "audit record failed after alert ack was applied", logKeyAlertID, s.ID, logKeyErr, err)
		return fmt.Errorf("%s %d applied but not recorded: %w", AckAction, s.ID, err)
	}
	return nil
}

// hasRole reports whether a holds one of the admin roles.
func hasRole(a apikey.Actor) bool {
	return a.IsAdmin() || a.Roles.Has(apikey.RoleKeysTeam) || a.Roles.Has(apikey.RoleKeysSelf)
}

// reach narrows f to the alerts a reaches, and reports false when nothing
// can match, such as a keys:team admin asking for another team. The caller
// checked that a holds a role.
func reach(a apikey.Actor, f *AlertFilter) bool {
	switch {
	case a.IsAdmin():
		return true
	case a.Roles.Has(apikey.RoleKeysTeam):
		// A team admin without a team reaches no one, as for keys.
		if a.Team == "" || (f.Team != "" && f.Team != a.Team) {
			return false
		}
		f.Team = a.Team
		return true
	default: // keys:self
		if f.Principal != "" && f.Principal != a.Principal {
			return false
		}
		f.Principal = a.Principal
		return true
	}
}
