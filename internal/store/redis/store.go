package redis

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/ratelimit"
)

// DefaultPrefix is the key prefix of a Store whose Options set none.
const DefaultPrefix = "scopegate:rl:"

// budgetMargin is how long a budget's key outlives its window. A settled
// refund for an ended window is dropped anyway, so the margin is only for
// gateways whose clocks (used when a request sets Now) run behind the
// one that opened the window: for them the window has not ended, and a
// key that had already expired would reopen it at zero.
const budgetMargin = time.Hour

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key; empty means DefaultPrefix. Give each
	// deployment sharing a server its own. On Redis Cluster it must hold
	// a hash tag, such as "{scopegate}:rl:", because one script touches
	// the keys of a key and of its principal, which must then share a
	// slot.
	Prefix string
	// Now is the gateway's clock; nil means time.Now. It is read only for
	// a request without a Now, which the server's clock decides; it picks
	// the calendar windows sent to the script, which must hold the
	// server's time, so the two clocks must agree within a day.
	Now func() time.Time
}

// Store is a [ratelimit.Store] kept on a Redis server, which every gateway
// replica shares. It is safe for concurrent use. Each Take and each Settle
// is one script run, one round trip.
type Store struct {
	client goredis.UniversalClient
	prefix string
	now    func() time.Time
	take   *goredis.Script
	settle *goredis.Script
}

var _ ratelimit.Store = (*Store)(nil)

//go:embed take.lua
var takeLua string

//go:embed settle.lua
var settleLua string

// New returns a Store on client, which the caller owns and closes. The
// client should not retry commands (go-redis: MaxRetries -1): a Take or
// Settle whose reply was lost may have run, and running it again would
// count the request twice.
func New(client goredis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{
		client: client,
		prefix: opts.Prefix,
		now:    opts.Now,
		take:   goredis.NewScript(takeLua),
		settle: goredis.NewScript(settleLua),
	}
}

// Take implements [ratelimit.Store.Take] with one run of take.lua.
func (s *Store) Take(ctx context.Context, r ratelimit.Request) (ratelimit.Grant, error) {
	if err := r.Validate(); err != nil {
		return ratelimit.Grant{}, err
	}
	hint := r.Now
	if hint.IsZero() {
		hint = s.now()
	}
	keys := make([]string, len(r.Limits))
	args := make([]any, 0, 4+limitArgs*len(r.Limits))
	args = append(args, micros(r.Now), r.LeaseTerm(), r.ID, budgetMargin.Milliseconds())
	for i, l := range r.Limits {
		keys[i] = s.key(l)
		units := l.Kind.Units(r.Tokens, r.Cost)
		var amount int64
		switch class(l.Kind) {
		case "r", "t":
			amount = l.Interval(units)
		case "b":
			amount = min(units, ratelimit.MaxUnits+1) // more than any Max still refuses
		}
		args = appendLimit(args, l, amount, hint)
	}
	reply, err := s.take.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return ratelimit.Grant{}, fmt.Errorf("redis rate limit take: %w", err)
	}
	if len(reply) < 2 {
		return ratelimit.Grant{}, fmt.Errorf("redis rate limit take: reply %v is too short", reply)
	}
	now := reply[0]
	if i := reply[1]; i != 0 {
		if i < 1 || i > int64(len(r.Limits)) || len(reply) != 3 {
			return ratelimit.Grant{}, fmt.Errorf("redis rate limit take: malformed refusal %v", reply)
		}
		return ratelimit.Grant{}, &ratelimit.ExceededError{
			Limit:      r.Limits[i-1],
			RetryAfter: time.Duration(reply[2]) * ratelimit.Resolution,
		}
	}
	qs, err := quotas(r.Limits, reply[2:], now)
	if err != nil {
		return ratelimit.Grant{}, fmt.Errorf("redis rate limit take: %w", err)
	}
	at := r.Now
	if at.IsZero() {
		at = time.UnixMicro(now).UTC()
	}
	return ratelimit.Grant{At: at, Quotas: qs}, nil
}

// Settle implements [ratelimit.Store.Settle] with one run of settle.lua.
func (s *Store) Settle(ctx context.Context, st ratelimit.Settlement) ([]ratelimit.Quota, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	hint := st.Now
	if hint.IsZero() {
		hint = s.now()
	}
	keys := make([]string, len(st.Limits))
	args := make([]any, 0, 4+limitArgs*len(st.Limits))
	args = append(args, micros(st.Now), micros(st.Taken), st.ID, budgetMargin.Milliseconds())
	for i, l := range st.Limits {
		keys[i] = s.key(l)
		delta := l.Kind.Units(st.Tokens, st.Cost)
		var amount int64
		switch class(l.Kind) {
		case "t":
			amount = l.Interval(delta)
		case "b":
			amount = min(max(delta, -ratelimit.MaxUnits), ratelimit.MaxUnits)
		}
		args = appendLimit(args, l, amount, hint)
	}
	reply, err := s.settle.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("redis rate limit settle: %w", err)
	}
	if len(reply) < 1 {
		return nil, fmt.Errorf("redis rate limit settle: empty reply")
	}
	qs, err := quotas(st.Limits, reply[1:], reply[0])
	if err != nil {
		return nil, fmt.Errorf("redis rate limit settle: %w", err)
	}
	return qs, nil
}

// key returns the key of l's counter: prefix, scope, kind. Kinds hold no
// colon, so the key names its scope unambiguously.
func (s *Store) key(l ratelimit.Limit) string {
	return s.prefix + l.Scope + ":" + string(l.Kind)
}

// limitArgs is the number of script arguments per limit.
const limitArgs = 7

// appendLimit appends l's script arguments to args: its class, Max,
// amount, and for a budget the windows before, of and after hint. The
// script picks the one that holds its now: the hint is the request's Now
// when it has one, and otherwise the gateway's clock, near the server's.
func appendLimit(args []any, l ratelimit.Limit, amount int64, hint time.Time) []any {
	args = append(args, class(l.Kind), min(l.Max, ratelimit.MaxUnits), amount)
	start, end, ok := l.Kind.Window(hint)
	if !ok {
		return append(args, 0, 0, 0, 0)
	}
	prev, _, _ := l.Kind.Window(start.Add(-time.Nanosecond))
	_, next, _ := l.Kind.Window(end)
	return append(args, prev.UnixMicro(), start.UnixMicro(), end.UnixMicro(), next.UnixMicro())
}

// class returns the scripts' name for the counter of a limit of kind k:
// "r" and "t" per-minute requests and tokens (a TAT), "b" a budget (a
// hash), "c" concurrency (a sorted set of leases).
func class(k ratelimit.Kind) string {
	switch k {
	case ratelimit.RequestsPerMinute:
		return "r"
	case ratelimit.TokensPerMinute:
		return "t"
	case ratelimit.Concurrent:
		return "c"
	}
	return "b"
}

// micros returns t in Unix microseconds for a script, or "" for the zero
// time, which the script reads as its own clock (or, for Taken, as now).
func micros(t time.Time) any {
	if t.IsZero() {
		return ""
	}
	return t.UnixMicro()
}

// quotas turns the scripts' per-limit state, two numbers per limit, into
// quotas at now.
func quotas(limits []ratelimit.Limit, state []int64, now int64) ([]ratelimit.Quota, error) {
	if len(state) != 2*len(limits) {
		return nil, fmt.Errorf("%d numbers of state for %d limits", len(state), len(limits))
	}
	qs := make([]ratelimit.Quota, len(limits))
	for i, l := range limits {
		a, b := state[2*i], state[2*i+1]
		switch class(l.Kind) {
		case "r", "t":
			qs[i] = l.RateQuota(a, now)
		case "b":
			qs[i] = l.BudgetQuota(a, b, now)
		default:
			qs[i] = l.ConcurrentQuota(a)
		}
	}
	return qs, nil
}
