package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/ratelimit/ratelimittest"
	"github.com/scopegate/scopegate/internal/store/redis"
	"github.com/scopegate/scopegate/internal/testenv"
)

// newClient returns a client of the test server, closed when tb ends, and
// a key prefix of its own, whose keys are deleted when tb ends, so that
// tests and test packages sharing the server never see each other's keys.
func newClient(tb testing.TB) (*goredis.Client, string) {
	tb.Helper()
	client := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(tb), MaxRetries: -1})
	prefix := "scopegate:test:" + rand.Text() + ":"
	tb.Cleanup(func() {
		defer client.Close()
		// tb.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range keys(tb, ctx, client, prefix) {
			if err := client.Del(ctx, k).Err(); err != nil {
				tb.Errorf("delete %s: %v", k, err)
			}
		}
	})
	return client, prefix
}

// newStore returns a Store on the test server with a prefix of its own.
func newStore(tb testing.TB, now func() time.Time) (*redis.Store, *goredis.Client, string) {
	tb.Helper()
	client, prefix := newClient(tb)
	return redis.New(client, redis.Options{Prefix: prefix, Now: now}), client, prefix
}

// keys returns the keys that start with prefix (which holds no glob
// characters).
func keys(tb testing.TB, ctx context.Context, client *goredis.Client, prefix string) []string {
	tb.Helper()
	var ks []string
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		ks = append(ks, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("scan %s*: %v", prefix, err)
	}
	return ks
}

func TestConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
		// The server's clock decides requests without a Now; now, the
		// suite's, only picks the calendar windows sent to the script.
		s, _, _ := newStore(t, now)
		return s
	})
}

var (
	base      = time.Date(2026, time.March, 14, 12, 0, 0, 0, time.UTC)
	keyScope  = ratelimit.KeyScope("k1")
	principal = ratelimit.PrincipalScope("p1")
)

// allKinds returns a limit of max of every kind, for a key and for its
// principal.
func allKinds(max int64) []ratelimit.Limit {
	var lims []ratelimit.Limit
	for _, scope := range []string{keyScope, principal} {
		for _, k := range []ratelimit.Kind{ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute, ratelimit.Concurrent,
			ratelimit.TokensPerDay, ratelimit.TokensPerMonth, ratelimit.CostPerDay, ratelimit.CostPerMonth} {
			lims = append(lims, ratelimit.Limit{Kind: k, Scope: scope, Max: max})
		}
	}
	return lims
}

// TestKeys checks the key layout, and that every key expires: none is
// left without a TTL after Take and Settle, at a request's Now or the
// server's clock, and each TTL is what the package documentation says.
func TestKeys(t *testing.T) {
	for _, now := range []time.Time{base, {}} {
		name := "RequestNow"
		if now.IsZero() {
			name = "ServerClock"
		}
		t.Run(name, func(t *testing.T) {
			s, client, prefix := newStore(t, time.Now)
			lims := allKinds(1000)
			r := ratelimit.Request{Limits: lims, Tokens: 100, Cost: 100, Now: now, ID: "r1", Lease: 10 * time.Minute}
			g, err := s.Take(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			check := func(op string) {
				t.Helper()
				got := keys(t, ctx, client, prefix)
				if len(got) != len(lims) {
					t.Errorf("after %s: %d keys %v, want %d", op, len(got), got, len(lims))
				}
				for _, l := range lims {
					k := prefix + l.Scope + ":" + string(l.Kind)
					ttl, err := client.PTTL(ctx, k).Result()
					if err != nil {
						t.Fatal(err)
					}
					at := g.At.UTC()
					var max time.Duration
					switch l.Kind {
					case ratelimit.RequestsPerMinute, ratelimit.TokensPerMinute:
						max = time.Minute
					case ratelimit.Concurrent:
						max = r.Lease
					default:
						_, end, _ := l.Kind.Window(at)
						max = end.Sub(at) + time.Hour
					}
					if ttl <= 0 || ttl > max+time.Millisecond {
						t.Errorf("after %s: PTTL %s = %v, want in (0, %v]", op, k, ttl, max)
					}
				}
			}
			check("Take")
			st := ratelimit.Settlement{Limits: lims, Taken: g.At, Tokens: -50, Cost: 50, Now: now, ID: "other"}
			if _, err := s.Settle(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			check("Settle")

			// A TAT refunded to the past is deleted, as is a set of leases
			// whose last lease is settled.
			st.Tokens, st.ID = -1000, "r1"
			if _, err := s.Settle(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys(t, ctx, client, prefix) {
				if strings.HasSuffix(k, ":tokens_per_minute") || strings.HasSuffix(k, ":concurrent") {
					t.Errorf("after a full refund and the last settlement, %s is left", k)
				}
			}
		})
	}
}

// TestServerClockWindows checks that without a Now the budget windows are
// those of the server's clock even when the gateway's is hours off, and
// that a clock too far off fails the request without taking.
func TestServerClockWindows(t *testing.T) {
	lims := []ratelimit.Limit{
		{Kind: ratelimit.TokensPerDay, Scope: keyScope, Max: 1000},
		{Kind: ratelimit.CostPerMonth, Scope: keyScope, Max: 1000},
	}
	for _, skew := range []time.Duration{-23 * time.Hour, -12 * time.Hour, 12 * time.Hour, 23 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			s, _, _ := newStore(t, func() time.Time { return time.Now().Add(skew) })
			g, err := s.Take(t.Context(), ratelimit.Request{Limits: lims, Tokens: 10, Cost: 10})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(g.At).Abs(); d > ratelimittest.ClockSkew {
				t.Errorf("At = %v, %v from now; want the server's clock", g.At, d)
			}
			for i, q := range g.Quotas {
				_, end, _ := lims[i].Kind.Window(g.At)
				if want := end.Sub(g.At); q.Reset != want || q.Remaining != 990 {
					t.Errorf("%s: %+v, want 990 left and Reset %v, to the end of the server's window", lims[i].Kind, q, want)
				}
			}
			qs, err := s.Settle(t.Context(), ratelimit.Settlement{Limits: lims, Taken: g.At, Tokens: -10, Cost: -10})
			if err != nil {
				t.Fatal(err)
			}
			if qs[0].Remaining != 1000 || qs[1].Remaining != 1000 {
				t.Errorf("after the refund: %+v, want all 1000 left", qs)
			}
		})
	}
	t.Run("TooFar", func(t *testing.T) {
		s, client, prefix := newStore(t, func() time.Time { return time.Now().Add(72 * time.Hour) })
		_, err := s.Take(t.Context(), ratelimit.Request{Limits: lims, Tokens: 10})
		if err == nil || errors.Is(err, ratelimit.ErrInvalid) {
			t.Fatalf("Take with the gateway's clock 3 days ahead = %v, want an error", err)
		}
		if _, ok := errors.AsType[*ratelimit.ExceededError](err); ok {
			t.Errorf("Take = %v, a refusal; want a failure", err)
		}
		if ks := keys(t, t.Context(), client, prefix); len(ks) != 0 {
			t.Errorf("a failed Take wrote %v", ks)
		}
	})
}

// TestUnreachable checks that a server that cannot be reached fails Take
// and Settle promptly with an error that is neither a refusal nor
// ErrInvalid, so the gateway answers 503.
func TestUnreachable(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	s := redis.New(client, redis.Options{})
	lims := allKinds(10)
	check := func(op string, err error, took time.Duration) {
		t.Helper()
		if err == nil || errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("%s = %v, want a connection error", op, err)
		}
		if _, ok := errors.AsType[*ratelimit.ExceededError](err); ok {
			t.Errorf("%s = %v, a refusal; want a failure", op, err)
		}
		if took > 2*time.Second {
			t.Errorf("%s took %v, want it to fail promptly", op, took)
		}
	}
	start := time.Now()
	_, err := s.Take(t.Context(), ratelimit.Request{Limits: lims, Tokens: 1, ID: "r1"})
	check("Take", err, time.Since(start))
	start = time.Now()
	_, err = s.Settle(t.Context(), ratelimit.Settlement{Limits: lims, ID: "r1"})
	check("Settle", err, time.Since(start))
}

// TestScriptFlushed checks that a server that lost its scripts (a
// restart, SCRIPT FLUSH) is sent them again.
func TestScriptFlushed(t *testing.T) {
	s, client, _ := newStore(t, time.Now)
	lims := []ratelimit.Limit{{Kind: ratelimit.RequestsPerMinute, Scope: keyScope, Max: 10}}
	for range 2 {
		if err := client.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Take(t.Context(), ratelimit.Request{Limits: lims}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Settle(t.Context(), ratelimit.Settlement{Limits: lims}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoundTrips checks that a Take and a Settle are one command each,
// whether granted or refused.
func TestRoundTrips(t *testing.T) {
	s, client, _ := newStore(t, time.Now)
	var hook countingHook
	client.AddHook(&hook)
	lims := allKinds(3)
	r := ratelimit.Request{Limits: lims, Tokens: 1, Cost: 1, ID: "warm-up"}
	g, err := s.Take(t.Context(), r) // loads the script if the server lacks it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(t.Context(), ratelimit.Settlement{Limits: lims, Taken: g.At, ID: r.ID}); err != nil {
		t.Fatal(err)
	}
	hook.n.Store(0)
	for _, id := range []string{"r1", "r2", "r3"} { // the fourth request of 3 a minute is refused
		r.ID = id
		_, err := s.Take(t.Context(), r)
		if _, ok := errors.AsType[*ratelimit.ExceededError](err); ok != (id == "r3") {
			t.Fatalf("Take %s = %v", id, err)
		}
	}
	if _, err := s.Settle(t.Context(), ratelimit.Settlement{Limits: lims, ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if got := hook.n.Load(); got != 4 {
		t.Errorf("3 Takes and 1 Settle sent %d commands, want 4", got)
	}
}

// BenchmarkTakeSettle takes and settles a request under every kind of
// limit of a key and its principal, at the server's clock, as a gateway
// replica does per call. roundtrips/op counts commands sent per Take and
// Settle together.
func BenchmarkTakeSettle(b *testing.B) {
	s, client, _ := newStore(b, time.Now)
	var hook countingHook
	client.AddHook(&hook)
	lims := allKinds(1 << 50)
	r := ratelimit.Request{Limits: lims, Tokens: 1000, Cost: 50, ID: "req-1"}
	st := ratelimit.Settlement{Limits: lims, Tokens: -400, Cost: -20, ID: "req-1"}
	ctx := b.Context()
	takeSettle := func() {
		g, err := s.Take(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		st.Taken = g.At
		if _, err := s.Settle(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	takeSettle() // loads the scripts and opens a connection
	hook.n.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		takeSettle()
	}
	b.ReportMetric(float64(hook.n.Load())/float64(b.N), "roundtrips/op")
}

// countingHook counts the commands and pipelines a client sends, each one
// round trip.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *countingHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}
