package proxy_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
)

// countingLookup is a fakeLookup that counts the lookups that reach it.
// When loaded is not nil, a key lookup that has read the store sends on
// loaded and then waits for release before it returns.
type countingLookup struct {
	*fakeLookup
	calls   atomic.Int32
	loaded  chan struct{}
	release chan struct{}
}

func (l *countingLookup) Key(ctx context.Context, id apikey.ID) (apikey.Key, error) {
	l.calls.Add(1)
	k, err := l.fakeLookup.Key(ctx, id)
	if l.loaded != nil {
		l.loaded <- struct{}{}
		<-l.release
	}
	return k, err
}

func (l *countingLookup) Principal(ctx context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	l.calls.Add(1)
	return l.fakeLookup.Principal(ctx, id)
}

// cacheHarness is a KeyCache over a countingLookup on a test clock, with
// one key and its principal in the store.
type cacheHarness struct {
	store *countingLookup
	clock *testClock
	cache *proxy.KeyCache
}

const (
	cachedKey       apikey.ID          = "0123456789abcdef"
	cachedPrincipal apikey.PrincipalID = "svc-cache"
)

func newCacheHarness(ttl time.Duration) *cacheHarness {
	h := &cacheHarness{store: &countingLookup{fakeLookup: newFakeLookup()}, clock: &testClock{now: t0}}
	h.store.addKey(apikey.Key{ID: cachedKey, Principal: cachedPrincipal, Status: apikey.StatusActive})
	h.store.addPrincipal(apikey.Principal{ID: cachedPrincipal, Status: apikey.PrincipalActive})
	h.cache = proxy.NewKeyCache(h.store, ttl, h.clock.Now)
	return h
}

func (h *cacheHarness) setKeyStatus(s apikey.Status) {
	h.store.addKey(apikey.Key{ID: cachedKey, Principal: cachedPrincipal, Status: s})
}

func (h *cacheHarness) setPrincipalStatus(s apikey.PrincipalStatus) {
	h.store.addPrincipal(apikey.Principal{ID: cachedPrincipal, Status: s})
}

// cacheStep is one step of a cache test: an optional change, then an
// optional lookup, then the number of lookups the store has seen.
type cacheStep struct {
	act func(h *cacheHarness)
	// lookup is "key", "principal", "unknown" (a key id not in the store)
	// or "" for none.
	lookup string
	// want is the looked-up key's or principal's status; wantErr the error.
	want    string
	wantErr error
	calls   int32
}

var errStoreDown = errors.New("store unreachable")

func TestKeyCache(t *testing.T) {
	advance := func(d time.Duration) func(*cacheHarness) { return func(h *cacheHarness) { h.clock.Add(d) } }
	addUnknown := func(h *cacheHarness) {
		h.store.addKey(apikey.Key{ID: "fedcba9876543210", Status: apikey.StatusSuspended})
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		steps []cacheStep
	}{
		{name: "TTLExpiry", ttl: 10 * time.Second, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{act: advance(10*time.Second - time.Nanosecond), lookup: "key", want: "active", calls: 1},
			{act: advance(time.Nanosecond), lookup: "key", want: "active", calls: 2},
			{lookup: "key", want: "active", calls: 2},
		}},
		{name: "StaleUntilTTL", ttl: 10 * time.Second, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{act: func(h *cacheHarness) { h.setKeyStatus(apikey.StatusRevoked) }, lookup: "key", want: "active", calls: 1},
			{act: advance(10 * time.Second), lookup: "key", want: "revoked", calls: 2},
		}},
		{name: "ForgetKey", ttl: time.Hour, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{act: func(h *cacheHarness) { h.setKeyStatus(apikey.StatusRevoked); h.cache.ForgetKey(cachedKey) },
				lookup: "key", want: "revoked", calls: 2},
			{lookup: "key", want: "revoked", calls: 2},
		}},
		{name: "ForgetOtherKey", ttl: time.Hour, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{act: func(h *cacheHarness) { h.cache.ForgetKey("fedcba9876543210") }, lookup: "key", want: "active", calls: 1},
		}},
		{name: "ForgetKeepsPrincipal", ttl: time.Hour, steps: []cacheStep{
			{lookup: "principal", want: "active", calls: 1},
			{act: func(h *cacheHarness) { h.cache.ForgetKey(cachedKey) }, lookup: "principal", want: "active", calls: 1},
		}},
		{name: "ForgetPrincipal", ttl: time.Hour, steps: []cacheStep{
			{lookup: "principal", want: "active", calls: 1},
			{lookup: "key", want: "active", calls: 2},
			{act: func(h *cacheHarness) { h.setPrincipalStatus(apikey.PrincipalDisabled) }, lookup: "principal", want: "active", calls: 2},
			{act: func(h *cacheHarness) { h.cache.ForgetPrincipal(cachedPrincipal) }, lookup: "principal", want: "disabled", calls: 3},
			// The principal's keys are dropped with it.
			{lookup: "key", want: "active", calls: 4},
			{lookup: "key", want: "active", calls: 4},
		}},
		{name: "ForgetOtherPrincipal", ttl: time.Hour, steps: []cacheStep{
			{lookup: "principal", want: "active", calls: 1},
			{lookup: "key", want: "active", calls: 2},
			{act: func(h *cacheHarness) { h.cache.ForgetPrincipal("svc-other") }, lookup: "key", want: "active", calls: 2},
			{lookup: "principal", want: "active", calls: 2},
		}},
		{name: "Bypass", ttl: time.Hour, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{lookup: "principal", want: "active", calls: 2},
			// Bypassed, every lookup reads the store: a revocation is seen
			// at once, without a notification.
			{act: func(h *cacheHarness) { h.cache.Bypass() }, lookup: "key", want: "active", calls: 3},
			{lookup: "key", want: "active", calls: 4},
			{lookup: "principal", want: "active", calls: 5},
			{act: func(h *cacheHarness) { h.setKeyStatus(apikey.StatusRevoked) }, lookup: "key", want: "revoked", calls: 6},
			{act: func(h *cacheHarness) { h.cache.Resume() }, lookup: "key", want: "revoked", calls: 7},
			{lookup: "key", want: "revoked", calls: 7},
		}},
		{name: "MissesNotCached", ttl: time.Hour, steps: []cacheStep{
			{lookup: "unknown", wantErr: apikey.ErrNotFound, calls: 1},
			{lookup: "unknown", wantErr: apikey.ErrNotFound, calls: 2},
			{act: addUnknown, lookup: "unknown", want: "suspended", calls: 3},
			{lookup: "unknown", want: "suspended", calls: 3},
		}},
		{name: "ErrorsNotCached", ttl: time.Hour, steps: []cacheStep{
			{act: func(h *cacheHarness) { h.store.setErr(errStoreDown) }, lookup: "key", wantErr: errStoreDown, calls: 1},
			{lookup: "key", wantErr: errStoreDown, calls: 2},
			{lookup: "principal", wantErr: errStoreDown, calls: 3},
			{act: func(h *cacheHarness) { h.store.setErr(nil) }, lookup: "key", want: "active", calls: 4},
			{lookup: "key", want: "active", calls: 4},
		}},
		{name: "ErrorAfterCachedServesCache", ttl: time.Hour, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{act: func(h *cacheHarness) { h.store.setErr(errStoreDown) }, lookup: "key", want: "active", calls: 1},
			{act: advance(time.Hour), lookup: "key", wantErr: errStoreDown, calls: 2},
		}},
		{name: "Forget", ttl: time.Hour, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{lookup: "principal", want: "active", calls: 2},
			{act: func(h *cacheHarness) { h.cache.Forget() }, lookup: "key", want: "active", calls: 3},
			{lookup: "principal", want: "active", calls: 4},
			{lookup: "key", want: "active", calls: 4},
		}},
		{name: "ZeroTTLDisables", ttl: 0, steps: []cacheStep{
			{lookup: "key", want: "active", calls: 1},
			{lookup: "key", want: "active", calls: 2},
			{act: func(h *cacheHarness) { h.setKeyStatus(apikey.StatusRevoked) }, lookup: "key", want: "revoked", calls: 3},
			{lookup: "principal", want: "active", calls: 4},
			{lookup: "principal", want: "active", calls: 5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCacheHarness(tt.ttl)
			for i, s := range tt.steps {
				if s.act != nil {
					s.act(h)
				}
				var got string
				var err error
				switch s.lookup {
				case "key":
					var k apikey.Key
					k, err = h.cache.Key(t.Context(), cachedKey)
					got = string(k.Status)
				case "unknown":
					var k apikey.Key
					k, err = h.cache.Key(t.Context(), "fedcba9876543210")
					got = string(k.Status)
				case "principal":
					var p apikey.Principal
					p, err = h.cache.Principal(t.Context(), cachedPrincipal)
					got = string(p.Status)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: %s lookup error = %v, want %v", i, s.lookup, err, s.wantErr)
				}
				if err == nil && got != s.want {
					t.Errorf("step %d: %s lookup = %q, want %q", i, s.lookup, got, s.want)
				}
				if n := h.store.calls.Load(); n != s.calls {
					t.Errorf("step %d: the store saw %d lookups, want %d", i, n, s.calls)
				}
			}
		})
	}
}

// TestKeyCacheForgetDuringLoad checks that a lookup already reading the
// store when its key is forgotten does not put the old record back: a key
// revoked while a request is being verified must be revoked for the next.
func TestKeyCacheForgetDuringLoad(t *testing.T) {
	h := newCacheHarness(time.Hour)
	h.store.loaded, h.store.release = make(chan struct{}), make(chan struct{})
	done := make(chan apikey.Key)
	go func() {
		k, _ := h.cache.Key(context.Background(), cachedKey)
		done <- k
	}()
	<-h.store.loaded // the lookup has read the active key
	h.setKeyStatus(apikey.StatusRevoked)
	h.cache.ForgetKey(cachedKey)
	close(h.store.release)
	if k := <-done; k.Status != apikey.StatusActive {
		t.Fatalf("the lookup in flight returned %s, want the active key it read", k.Status)
	}
	h.store.loaded = nil
	k, err := h.cache.Key(t.Context(), cachedKey)
	if err != nil {
		t.Fatal(err)
	}
	if k.Status != apikey.StatusRevoked {
		t.Errorf("after Forget, Key returned a %s key, want the revoked one from the store", k.Status)
	}
}
