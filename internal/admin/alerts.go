package admin

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

// AlertInbox answers GET /admin/v1/alerts and POST
// /admin/v1/alerts/{id}/ack; *anomaly.Inbox is one. Its methods must
// behave as anomaly.Inbox's: each scopes what it does to the actor's
// reach, answers apikey.ErrForbidden to an actor without an admin role and
// anomaly.ErrNotFound for an alert outside the reach. It must be safe for
// concurrent use.
type AlertInbox interface {
	List(ctx context.Context, a apikey.Actor, f anomaly.AlertFilter) (apikey.Page[anomaly.StoredAlert], error)
	Ack(ctx context.Context, a apikey.Actor, id int64) (anomaly.StoredAlert, error)
}

// Alert is an alert group as the API shows it: the first alert of a rule
// about a subject, and how often it tripped again while the group was
// open.
type Alert struct {
	ID        int64  `json:"id"`
	Rule      string `json:"rule"`
	Subject   string `json:"subject"`
	Principal string `json:"principal"`
	Team      string `json:"team"`
	Key       string `json:"key"`
	// Figures are those of the group's latest alert.
	Figures string    `json:"figures"`
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
	Count   int64     `json:"count"`
	Acked   bool      `json:"acked"`
	// AckedAt and AckedBy are set once the alert is acknowledged.
	AckedAt *time.Time `json:"acked_at,omitempty"`
	AckedBy string     `json:"acked_by,omitempty"`
}

func toAlert(s anomaly.StoredAlert) Alert {
	a := Alert{ID: s.ID, Rule: s.Rule, Subject: s.Subject, Principal: string(s.Principal), Team: s.Team,
		Key: string(s.Key), Figures: s.Figures, FirstAt: s.FirstAt.UTC(), LastAt: s.LastAt.UTC(), Count: s.Count,
		Acked: s.Acked(), AckedBy: s.AckedBy}
	if s.Acked() {
		a.AckedAt = new(s.AckedAt.UTC())
	}
	return a
}

// The query parameters of the alert list, besides principal, team, since,
// until, after and limit.
const (
	paramRule    = "rule"
	paramSubject = "subject"
	paramAcked   = "acked"
)

// alertAccess checks that the caller holds an admin role and that this
// server keeps alerts. The role comes first, so a caller without one
// learns nothing about how the server was built.
func alertAccess(ctx context.Context, inbox AlertInbox) (apikey.Actor, error) {
	a, err := actorFrom(ctx)
	if err != nil {
		return a, err
	}
	if !a.IsAdmin() && !a.Roles.Has(apikey.RoleKeysTeam) && !a.Roles.Has(apikey.RoleKeysSelf) {
		return a, apikey.ErrForbidden
	}
	if inbox == nil {
		return a, errNotImplemented
	}
	return a, nil
}

// handleAlertList serves GET /admin/v1/alerts: a page of the alert groups
// the caller reaches, newest first, filtered as the query asks.
func handleAlertList(logger *slog.Logger, inbox AlertInbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := alertAccess(r.Context(), inbox)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		f, err := parseAlertFilter(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		page, err := inbox.List(r.Context(), a, f)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toList(page, toAlert))
	})
}

// handleAlertAck serves POST /admin/v1/alerts/{id}/ack: it records that
// the caller acknowledged the alert, unless someone already did, and
// answers the alert. Any request body is ignored.
func handleAlertAck(logger *slog.Logger, inbox AlertInbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := alertAccess(r.Context(), inbox)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		id, err := parseAlertID("id", r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		s, err := inbox.Ack(r.Context(), a, id)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toAlert(s))
	})
}

// parseAlertFilter reads the query of an alert list. Its errors are 400s.
func parseAlertFilter(r *http.Request) (anomaly.AlertFilter, error) {
	values, err := strictQuery(r, paramRule, paramSubject, paramPrincipal, paramTeam, paramAcked,
		paramSince, paramUntil, paramAfter, paramLimit)
	if err != nil {
		return anomaly.AlertFilter{}, err
	}
	f := anomaly.AlertFilter{Rule: values.Get(paramRule), Subject: values.Get(paramSubject),
		Principal: apikey.PrincipalID(values.Get(paramPrincipal)), Team: values.Get(paramTeam)}
	switch {
	case f.Rule != "" && !isToken(f.Rule, 32):
		return f, badRequest(paramRule, "must be a rule name such as probing")
	case f.Subject != "" && !isToken(f.Subject, 256):
		return f, badRequest(paramSubject, "must be a subject such as key:<id>, principal:<id> or net:<prefix>")
	case f.Principal != "" && !apikey.ValidPrincipalID(f.Principal):
		return f, badRequest(paramPrincipal, "is not a valid principal id")
	case len(f.Team) > 128:
		return f, badRequest(paramTeam, "longer than 128 characters")
	}
	switch s := values.Get(paramAcked); s {
	case "", "any":
		f.Acked = anomaly.AckAny
	case "yes", "no":
		f.Acked = anomaly.AckState(s)
	default:
		return f, badRequest(paramAcked, "must be yes, no or any")
	}
	for _, t := range []struct {
		param string
		dst   *time.Time
	}{{paramSince, &f.Since}, {paramUntil, &f.Until}} {
		if s := values.Get(t.param); s != "" {
			if *t.dst, err = parseRFC3339(t.param, s); err != nil {
				return f, err
			}
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, badRequest(paramUntil, "must be after since")
	}
	if s := values.Get(paramAfter); s != "" {
		if f.Before, err = parseAlertID(paramAfter, s); err != nil {
			return f, err
		}
	}
	if s := values.Get(paramLimit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > anomaly.MaxPageSize {
			return f, badRequest(paramLimit, "must be a whole number from 1 to %d", anomaly.MaxPageSize)
		}
		f.Limit = n
	}
	return f, nil
}

// parseAlertID reads an alert id, or a cursor, which is one.
func parseAlertID(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest(name, "must be an alert id: a whole number, 1 or more")
	}
	return n, nil
}
