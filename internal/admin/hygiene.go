package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/usage"
)

// The query parameters of the hygiene route.
const (
	paramUnusedDays      = "unused_days"
	paramUnexercisedDays = "unexercised_days"
	paramSprawlKeys      = "sprawl_keys"
)

// Bounds of the hygiene parameters. A year of usage fits a usage query
// (usage.MaxRange), and no principal holds a million keys.
const (
	maxHygieneDays = 365
	maxSprawlKeys  = 1_000_000
)

// HygieneReport is the answer of GET /admin/v1/hygiene: the keys within
// the caller's reach that outlive their need, in four sections, each worst
// first. See docs/anomalies.md for the rules.
type HygieneReport struct {
	// GeneratedAt is when the keys were judged.
	GeneratedAt time.Time     `json:"generated_at"`
	Policy      HygienePolicy `json:"policy"`
	// UsageFrom and UsageTo are the usage read to judge scopes: whole UTC
	// hours, UsageFrom ≤ hour < UsageTo.
	UsageFrom time.Time `json:"usage_from"`
	UsageTo   time.Time `json:"usage_to"`
	// KeysChecked counts the keys judged: not revoked, not expired, not
	// replaced by a rotation.
	KeysChecked int                     `json:"keys_checked"`
	Unused      []HygieneUnusedKey      `json:"unused"`
	Unexercised []HygieneUnexercisedKey `json:"unexercised"`
	LongLived   []HygieneLongLivedKey   `json:"long_lived"`
	Sprawl      []HygieneSprawl         `json:"sprawl"`
}

// HygienePolicy is what a hygiene report judged against: the query's
// thresholds (or their defaults) and the server's keys.max_ttl.
type HygienePolicy struct {
	UnusedDays      int `json:"unused_days"`
	UnexercisedDays int `json:"unexercised_days"`
	// MaxTTL is a duration such as "365d" or "12h0m0s".
	MaxTTL     string `json:"max_ttl"`
	SprawlKeys int    `json:"sprawl_keys"`
}

// HygieneUnusedKey is a data key not used for UnusedDays.
type HygieneUnusedKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Principal string    `json:"principal"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is absent for a key never used.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// IdleDays are the whole days since the last use, or since creation.
	IdleDays int `json:"idle_days"`
}

// HygieneUnexercisedKey is a data key holding scopes broader than its
// calls of the last UnexercisedDays needed.
type HygieneUnexercisedKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Principal string `json:"principal"`
	Status    string `json:"status"`
	// Scopes are the key's; Unexercised those that served no call.
	Scopes      []string `json:"scopes"`
	Unexercised []string `json:"unexercised"`
	// Suggested is the narrower set that covers every call the key made;
	// empty when it made none.
	Suggested []string `json:"suggested"`
}

// HygieneLongLivedKey is a key whose lifetime exceeds the max TTL, or that
// never expires.
type HygieneLongLivedKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Principal string    `json:"principal"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt and Lifetime are absent for a key that never expires.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Lifetime  string     `json:"lifetime,omitempty"`
}

// HygieneSprawl is a principal with more than SprawlKeys active keys.
type HygieneSprawl struct {
	Principal  string `json:"principal"`
	Team       string `json:"team"`
	ActiveKeys int    `json:"active_keys"`
}

// handleHygiene serves GET /admin/v1/hygiene: the key hygiene report of
// the keys within the caller's reach, as the key lists reach them, judged
// against their usage and the server's maximum key lifetime.
func handleHygiene(logger *slog.Logger, issuer *apikey.Issuer, reader UsageReader, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if !a.IsAdmin() && !a.Roles.Has(apikey.RoleKeysTeam) && !a.Roles.Has(apikey.RoleKeysSelf) {
			writeError(w, r, logger, apikey.ErrForbidden)
			return
		}
		if reader == nil {
			writeError(w, r, logger, errNotImplemented)
			return
		}
		policy, err := parseHygienePolicy(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		policy.MaxTTL = issuer.MaxTTL()
		at := now().UTC()
		in, q, err := hygieneInput(r.Context(), issuer, reader, a, policy, at)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toHygieneReport(anomaly.Hygiene(in, policy), q))
	})
}

// parseHygienePolicy reads the thresholds of a hygiene request; those not
// given keep the defaults.
func parseHygienePolicy(r *http.Request) (anomaly.HygienePolicy, error) {
	values, err := strictQuery(r, paramUnusedDays, paramUnexercisedDays, paramSprawlKeys)
	if err != nil {
		return anomaly.HygienePolicy{}, err
	}
	p := anomaly.DefaultHygienePolicy()
	for _, f := range []struct {
		param string
		max   int
		v     *int
	}{
		{paramUnusedDays, maxHygieneDays, &p.UnusedDays},
		{paramUnexercisedDays, maxHygieneDays, &p.UnexercisedDays},
		{paramSprawlKeys, maxSprawlKeys, &p.SprawlKeys},
	} {
		if !values.Has(f.param) {
			continue
		}
		n, err := strconv.Atoi(values.Get(f.param))
		if err != nil || n < 0 || n > f.max {
			return anomaly.HygienePolicy{}, badRequest(f.param, "must be a whole number from 0 to %d", f.max)
		}
		*f.v = n
	}
	return p, nil
}

// hygieneInput gathers what the report of a is made from: the keys a
// reaches that can still work, their principals, and the usage of those
// whose scopes are judged. It returns the usage query it read.
func hygieneInput(ctx context.Context, issuer *apikey.Issuer, reader UsageReader, a apikey.Actor,
	p anomaly.HygienePolicy, now time.Time) (anomaly.HygieneInput, usage.Query, error) {
	in := anomaly.HygieneInput{Now: now}
	q := p.UsageQuery(now)
	for _, st := range []apikey.Status{apikey.StatusActive, apikey.StatusSuspended} {
		keys, err := listAll(func(after string) (apikey.Page[apikey.Key], error) {
			return issuer.Keys(ctx, a, apikey.KeyFilter{Status: st, After: apikey.ID(after)})
		})
		if err != nil {
			return in, q, err
		}
		in.Keys = append(in.Keys, keys...)
	}
	principals, err := listAll(func(after string) (apikey.Page[apikey.Principal], error) {
		return issuer.Principals(ctx, a, apikey.PrincipalFilter{After: apikey.PrincipalID(after)})
	})
	if err != nil {
		return in, q, err
	}
	in.Principals = principals
	var judged []apikey.Key
	for i := range in.Keys {
		if p.NeedsUsage(&in.Keys[i], now) {
			judged = append(judged, in.Keys[i])
		}
	}
	in.Usage, err = hygieneUsage(ctx, reader, a, q, judged)
	return in, q, err
}

// listAll reads every page of a list; list answers the page after the
// cursor.
func listAll[T any](list func(after string) (apikey.Page[T], error)) ([]T, error) {
	var out []T
	after := ""
	for {
		page, err := list(after)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == "" || len(page.Items) == 0 {
			return out, nil
		}
		after = page.Next
	}
}

// hygieneUsage reads the usage of keys over q's range, narrowed to a's
// reach as the usage report is (so a keys:team admin reads the usage
// recorded for its team). A report that would pass usage.MaxRows rows is
// read principal by principal, and a principal's key by key if it still
// would; rows of keys outside keys are harmless, since the report judges
// only the keys it lists.
func hygieneUsage(ctx context.Context, reader UsageReader, a apikey.Actor, q usage.Query, keys []apikey.Key) ([]usage.Row, error) {
	if len(keys) == 0 || !scopeUsage(a, &q) {
		return nil, nil
	}
	rows, err := reader.Query(ctx, q)
	if !errors.Is(err, usage.ErrTooManyRows) {
		return rows, err
	}
	byPrincipal := make(map[apikey.PrincipalID][]apikey.ID)
	var order []apikey.PrincipalID
	for _, k := range keys {
		if _, ok := byPrincipal[k.Principal]; !ok {
			order = append(order, k.Principal)
		}
		byPrincipal[k.Principal] = append(byPrincipal[k.Principal], k.ID)
	}
	rows = nil
	for _, pid := range order {
		pq := q
		pq.Principal = pid
		got, err := reader.Query(ctx, pq)
		if errors.Is(err, usage.ErrTooManyRows) {
			got, err = nil, nil
			for _, id := range byPrincipal[pid] {
				kq := pq
				kq.Key = id
				kr, kerr := reader.Query(ctx, kq)
				if kerr != nil {
					return nil, kerr
				}
				got = append(got, kr...)
			}
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// toHygieneReport returns the report as the API shows it. Sections and
// scope lists are [] rather than null when empty.
func toHygieneReport(r anomaly.HygieneReport, q usage.Query) HygieneReport {
	out := HygieneReport{
		GeneratedAt: r.Now.UTC(),
		Policy: HygienePolicy{UnusedDays: r.Policy.UnusedDays, UnexercisedDays: r.Policy.UnexercisedDays,
			MaxTTL: formatDays(r.Policy.MaxTTL), SprawlKeys: r.Policy.SprawlKeys},
		UsageFrom: q.From.UTC(), UsageTo: q.To.UTC(), KeysChecked: r.Checked,
		Unused:      make([]HygieneUnusedKey, 0, len(r.Unused)),
		Unexercised: make([]HygieneUnexercisedKey, 0, len(r.Unexercised)),
		LongLived:   make([]HygieneLongLivedKey, 0, len(r.LongLived)),
		Sprawl:      make([]HygieneSprawl, 0, len(r.Sprawl)),
	}
	for _, k := range r.Unused {
		out.Unused = append(out.Unused, HygieneUnusedKey{ID: string(k.Key), Name: k.Name, Principal: string(k.Principal),
			Status: string(k.Status), CreatedAt: k.CreatedAt.UTC(), LastUsedAt: optionalTime(k.LastUsedAt), IdleDays: k.IdleDays})
	}
	for _, k := range r.Unexercised {
		out.Unexercised = append(out.Unexercised, HygieneUnexercisedKey{ID: string(k.Key), Name: k.Name,
			Principal: string(k.Principal), Status: string(k.Status), Scopes: k.Scopes.Strings(),
			Unexercised: scopeStrings(k.Unexercised), Suggested: k.Suggested.Strings()})
	}
	for _, k := range r.LongLived {
		l := HygieneLongLivedKey{ID: string(k.Key), Name: k.Name, Principal: string(k.Principal), Kind: keyKind(k.Class),
			Status: string(k.Status), CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optionalTime(k.ExpiresAt)}
		if !k.ExpiresAt.IsZero() {
			l.Lifetime = formatDays(k.Lifetime)
		}
		out.LongLived = append(out.LongLived, l)
	}
	for _, s := range r.Sprawl {
		out.Sprawl = append(out.Sprawl, HygieneSprawl{Principal: string(s.Principal), Team: s.Team, ActiveKeys: s.ActiveKeys})
	}
	return out
}

func scopeStrings(ss []scope.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}

// formatDays writes d as parseDuration reads it: whole days with the
// suffix "d" ("400d"), then the rest as a Go duration ("1d12h0m0s"), or
// only the Go duration when under a day.
func formatDays(d time.Duration) string {
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	switch {
	case days == 0:
		return d.String()
	case rest == 0:
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + rest.String()
}
