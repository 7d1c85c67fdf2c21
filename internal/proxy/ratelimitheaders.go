package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// Limit headers. Every answer to a request that has limits carries the
// IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers-10), one item per limit named
// "<scope>_<kind>" ("key_requests_per_minute", "principal_tokens_per_day");
// answers on OpenAI routes also carry OpenAI's x-ratelimit-* headers for
// the requests and tokens per minute, so that OpenAI SDKs and their users
// read them as they read OpenAI's. Headers of the upstream's own limits
// (the shared provider account's) are removed: they describe capacity the
// key does not have and disclose the account's.

// upstreamLimitHeader reports whether an upstream response header
// describes the upstream's limits.
func upstreamLimitHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "x-ratelimit-") || strings.HasPrefix(n, "ratelimit") ||
		strings.HasPrefix(n, "anthropic-ratelimit-")
}

// stripUpstreamLimitHeaders removes the upstream's limit headers from h.
func stripUpstreamLimitHeaders(h http.Header) {
	for name := range h {
		if upstreamLimitHeader(name) {
			delete(h, name)
		}
	}
}

// setLimitHeaders writes the limit headers of quotas, the state of a
// request's limits, into h.
func setLimitHeaders(h http.Header, api provider.API, quotas []ratelimit.Quota, now time.Time) {
	if len(quotas) == 0 {
		return
	}
	var policy, state []byte
	for i, q := range quotas {
		if i > 0 {
			policy = append(policy, ", "...)
			state = append(state, ", "...)
		}
		name := policyName(q.Limit)
		policy = appendPolicy(policy, name, q.Limit, now)
		state = appendState(state, name, q.Remaining, q.Reset)
	}
	h.Set("RateLimit-Policy", string(policy))
	h.Set("RateLimit", string(state))
	if api == provider.APIOpenAI {
		setOpenAIHeaders(h, quotas)
	}
}

// setRefusalHeaders writes the headers of a refusal by e: Retry-After,
// and the refusing limit as RateLimit-Policy and RateLimit with nothing
// remaining.
func setRefusalHeaders(h http.Header, api provider.API, e *ratelimit.ExceededError, now time.Time) {
	q := ratelimit.Quota{Limit: e.Limit, Remaining: 0, Reset: e.RetryAfter}
	setLimitHeaders(h, api, []ratelimit.Quota{q}, now)
}

// policyName names a limit in the RateLimit fields: its scope's type and
// its kind. The key or principal id is left out: the client knows its key,
// and a principal's id is not the caller's to learn.
func policyName(l ratelimit.Limit) string {
	who, _, _ := strings.Cut(l.Scope, ":")
	if strings.Contains(l.Scope, "/feature:") {
		who += "_feature"
	}
	return who + "_" + string(l.Kind)
}

// appendPolicy appends one RateLimit-Policy item: quota q, window w in
// seconds, and the quota unit qu when it is not requests.
func appendPolicy(b []byte, name string, l ratelimit.Limit, now time.Time) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, l.Max, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, windowSeconds(l.Kind, now), 10)
	switch unit := quotaUnit(l.Kind); unit {
	case "requests":
	default:
		b = append(b, `;qu="`...)
		b = append(b, unit...)
		b = append(b, '"')
	}
	return b
}

// appendState appends one RateLimit item: r remaining, t seconds to reset
// (rounded up, so a client waiting t seconds is not refused again).
func appendState(b []byte, name string, remaining int64, reset time.Duration) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(remaining, 0), 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, ceilSeconds(reset), 10)
}

// windowSeconds is the window of a limit of kind k: a minute, or the
// current UTC day or month. Concurrency has no window, but the draft
// requires one; it reports 1.
func windowSeconds(k ratelimit.Kind, now time.Time) int64 {
	if start, end, ok := k.Window(now); ok {
		return int64(end.Sub(start) / time.Second)
	}
	if k == ratelimit.Concurrent {
		return 1
	}
	return 60
}

// quotaUnit is the draft's qu parameter: "requests" and
// "concurrent-requests" are registered; tokens and micro-dollars are ours.
func quotaUnit(k ratelimit.Kind) string {
	switch k {
	case ratelimit.Concurrent:
		return "concurrent-requests"
	case ratelimit.TokensPerMinute, ratelimit.TokensPerDay, ratelimit.TokensPerMonth:
		return "tokens"
	case ratelimit.CostPerDay, ratelimit.CostPerMonth:
		return "usd-micros"
	}
	return "requests"
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// setOpenAIHeaders writes x-ratelimit-{limit,remaining,reset}-{requests,
// tokens} from the per-minute limits in quotas: of several (the key's and
// the principal's), the one with the least remaining.
func setOpenAIHeaders(h http.Header, quotas []ratelimit.Quota) {
	for _, c := range [...]struct {
		kind   ratelimit.Kind
		suffix string
	}{{ratelimit.RequestsPerMinute, "requests"}, {ratelimit.TokensPerMinute, "tokens"}} {
		best := -1
		for i, q := range quotas {
			if q.Limit.Kind == c.kind && (best < 0 || q.Remaining < quotas[best].Remaining) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		q := quotas[best]
		h.Set("X-Ratelimit-Limit-"+c.suffix, strconv.FormatInt(q.Limit.Max, 10))
		h.Set("X-Ratelimit-Remaining-"+c.suffix, strconv.FormatInt(max(q.Remaining, 0), 10))
		h.Set("X-Ratelimit-Reset-"+c.suffix, openAIDuration(q.Reset))
	}
}

// openAIDuration formats d as OpenAI's reset headers do: "1s", "6m0s",
// "20ms"; to the millisecond.
func openAIDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}
