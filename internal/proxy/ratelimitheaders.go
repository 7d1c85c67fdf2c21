package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	return hasPrefixFold(name, "x-ratelimit-") || hasPrefixFold(name, "ratelimit") ||
		hasPrefixFold(name, "anthropic-ratelimit-")
}

// hasPrefixFold reports whether name starts with the lower-case ASCII
// prefix in any letter case. Unlike lowering name first it allocates
// nothing, and it runs on every header of every answer.
func hasPrefixFold(name, prefix string) bool {
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
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
// request's limits, into h. It runs on every answer to a request with
// limits, so every value is appended to one buffer and becomes one string,
// which the header values are slices of: two allocations in all, for any
// number of limits.
func setLimitHeaders(h http.Header, api provider.API, quotas []ratelimit.Quota, now time.Time) {
	if len(quotas) == 0 {
		return
	}
	bp := limitBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	// The names are in canonical form, as Set would make them.
	var vals limitValues
	for i, q := range quotas {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPolicy(b, q.Limit, now)
	}
	vals.end("Ratelimit-Policy", len(b))
	for i, q := range quotas {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendState(b, q.Limit, q.Remaining, q.Reset)
	}
	vals.end("Ratelimit", len(b))
	if api == provider.APIOpenAI {
		b = appendOpenAIValues(b, quotas, &vals)
	}
	text := string(b)
	*bp = b
	limitBuffers.Put(bp)
	all := make([]string, vals.n)
	from := 0
	for i := range vals.n {
		all[i] = text[from:vals.ends[i]]
		from = vals.ends[i]
		h[vals.names[i]] = all[i : i+1 : i+1]
	}
}

// limitValues records the headers setLimitHeaders writes: each one's
// name, and where its value ends in the buffer.
type limitValues struct {
	names [2 + len(openAIHeaders)]string
	ends  [2 + len(openAIHeaders)]int
	n     int
}

func (v *limitValues) end(name string, at int) {
	v.names[v.n], v.ends[v.n] = name, at
	v.n++
}

// limitBuffers holds the buffers setLimitHeaders builds values in.
var limitBuffers = sync.Pool{New: func() any { return new([]byte) }}

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

// appendPolicyName appends policyName(l) as a quoted string, as
// strconv.AppendQuote does, without making the name first.
func appendPolicyName(b []byte, l ratelimit.Limit) []byte {
	start := len(b)
	who, _, _ := strings.Cut(l.Scope, ":")
	b = append(b, '"')
	b = append(b, who...)
	if strings.Contains(l.Scope, "/feature:") {
		b = append(b, "_feature"...)
	}
	b = append(b, '_')
	b = append(b, l.Kind...)
	for _, c := range b[start+1:] {
		if c < ' ' || c > '~' || c == '"' || c == '\\' { // needs escaping: let strconv do it
			return strconv.AppendQuote(b[:start], policyName(l))
		}
	}
	return append(b, '"')
}

// appendPolicy appends one RateLimit-Policy item: quota q, window w in
// seconds, and the quota unit qu when it is not requests.
func appendPolicy(b []byte, l ratelimit.Limit, now time.Time) []byte {
	b = appendPolicyName(b, l)
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
func appendState(b []byte, l ratelimit.Limit, remaining int64, reset time.Duration) []byte {
	b = appendPolicyName(b, l)
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

// openAIHeaders are OpenAI's x-ratelimit-* headers, in canonical form:
// for the requests and the tokens per minute, the limit, what remains,
// and when it resets.
var openAIHeaders = [...]string{
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
	"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens",
}

// appendOpenAIValues appends the values of OpenAI's x-ratelimit-{limit,
// remaining,reset}-{requests,tokens} headers from the per-minute limits in
// quotas: of several (the key's and the principal's), the one with the
// least remaining. A kind without a limit gets no headers.
func appendOpenAIValues(b []byte, quotas []ratelimit.Quota, vals *limitValues) []byte {
	for i, kind := range [...]ratelimit.Kind{ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute} {
		best := -1
		for j, q := range quotas {
			if q.Limit.Kind == kind && (best < 0 || q.Remaining < quotas[best].Remaining) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		q := quotas[best]
		names := openAIHeaders[3*i : 3*i+3]
		b = strconv.AppendInt(b, q.Limit.Max, 10)
		vals.end(names[0], len(b))
		b = strconv.AppendInt(b, max(q.Remaining, 0), 10)
		vals.end(names[1], len(b))
		b = appendOpenAIDuration(b, q.Reset)
		vals.end(names[2], len(b))
	}
	return b
}

// appendOpenAIDuration appends d as OpenAI's reset headers write it:
// "1s", "6m0s", "20ms"; to the millisecond.
func appendOpenAIDuration(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(b, "0s"...)
	}
	return append(b, d.Round(time.Millisecond).String()...)
}
