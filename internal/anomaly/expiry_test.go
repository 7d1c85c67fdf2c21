package anomaly_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

// expNow is the time the expiry tests scan at.
var expNow = time.Date(2030, 6, 1, 9, 0, 0, 0, time.UTC)

// expKeys is a key store that answers Keys as apikey.KeyStore does: keys
// of the filter's status, ordered by id, in pages of pageSize after the
// cursor. err, when set, fails every call.
type expKeys struct {
	mu       sync.Mutex
	keys     []apikey.Key
	pageSize int
	err      error
	calls    int
}

func (s *expKeys) Keys(_ context.Context, f apikey.KeyFilter) (apikey.Page[apikey.Key], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return apikey.Page[apikey.Key]{}, s.err
	}
	keys := slices.Clone(s.keys)
	slices.SortFunc(keys, func(a, b apikey.Key) int { return strings.Compare(string(a.ID), string(b.ID)) })
	size := s.pageSize
	if size == 0 {
		size = apikey.MaxPageSize
	}
	var page apikey.Page[apikey.Key]
	for _, k := range keys {
		if (f.Status != "" && k.Status != f.Status) || (f.After != "" && k.ID <= f.After) {
			continue
		}
		if len(page.Items) == size {
			page.Next = string(page.Items[size-1].ID)
			break
		}
		page.Items = append(page.Items, k)
	}
	return page, nil
}

// set replaces the key with k's id, or adds k.
func (s *expKeys) set(k apikey.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.keys, func(o apikey.Key) bool { return o.ID == k.ID }); i >= 0 {
		s.keys[i] = k
		return
	}
	s.keys = append(s.keys, k)
}

// expRaiser records the alerts raised; it fails while err is set.
type expRaiser struct {
	mu     sync.Mutex
	alerts []anomaly.Alert
	err    error
}

func (r *expRaiser) Raise(_ context.Context, a anomaly.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.alerts = append(r.alerts, a)
	return nil
}

// take returns the alerts raised since the last take.
func (r *expRaiser) take() []anomaly.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.alerts
	r.alerts = nil
	return out
}

// expKey is an active data key of alice expiring at expires.
func expKey(id string, expires time.Time) apikey.Key {
	return apikey.Key{ID: apikey.ID(id), Class: apikey.ClassData, Principal: "alice", Status: apikey.StatusActive,
		CreatedAt: expNow.Add(-80 * 24 * time.Hour), ExpiresAt: expires}
}

// expWith returns k changed by fn.
func expWith(k apikey.Key, fn func(*apikey.Key)) apikey.Key {
	fn(&k)
	return k
}

// expAlert is the alert a scan at expNow raises for key id.
func expAlert(id, figures string) anomaly.Alert {
	return anomaly.Alert{Rule: anomaly.RuleKeyExpiring, Subject: "key:" + id, Principal: "alice", Key: apikey.ID(id),
		Figures: figures, At: expNow}
}

func newExpScanner(t *testing.T, keys anomaly.ExpiryKeys, raiser anomaly.ExpiryRaiser, ledger anomaly.ExpiryLedger) *anomaly.ExpiryScanner {
	t.Helper()
	return anomaly.NewExpiryScanner(anomaly.ExpiryConfig{Keys: keys, Raiser: raiser, Ledger: ledger})
}

func TestExpiryScanOnce(t *testing.T) {
	tests := []struct {
		name string
		key  apikey.Key
		want []anomaly.Alert
	}{
		{"ThreeDays", expKey("k1", expNow.Add(3*24*time.Hour+5*time.Hour)),
			[]anomaly.Alert{expAlert("k1", "expires_at=2030-06-04T14:00:00Z days_left=3")}},
		{"NoticeEdge", expKey("k1", expNow.Add(7*24*time.Hour)),
			[]anomaly.Alert{expAlert("k1", "expires_at=2030-06-08T09:00:00Z days_left=7")}},
		{"LastDay", expKey("k1", expNow.Add(2*time.Hour+500*time.Millisecond)),
			[]anomaly.Alert{expAlert("k1", "expires_at=2030-06-01T11:00:00Z days_left=0")}},
		{"BeyondNotice", expKey("k1", expNow.Add(7*24*time.Hour+time.Second)), nil},
		{"Expired", expKey("k1", expNow), nil},
		{"NeverExpires", expKey("k1", time.Time{}), nil},
		{"Suspended", expWith(expKey("k1", expNow.Add(time.Hour)), func(k *apikey.Key) { k.Status = apikey.StatusSuspended }), nil},
		{"Revoked", expWith(expKey("k1", expNow.Add(time.Hour)), func(k *apikey.Key) { k.Status = apikey.StatusRevoked }), nil},
		// A key a rotation replaced stops at the end of its grace, as
		// asked: no alert.
		{"Replaced", expWith(expKey("k1", expNow.Add(time.Hour)), func(k *apikey.Key) { k.ReplacedBy = "k2" }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raiser := &expRaiser{}
			s := newExpScanner(t, &expKeys{keys: []apikey.Key{tt.key}}, raiser, nil)
			n, err := s.ScanOnce(t.Context(), expNow)
			if err != nil || n != len(tt.want) {
				t.Errorf("ScanOnce = %d, %v; want %d, nil", n, err, len(tt.want))
			}
			if d := cmp.Diff(tt.want, raiser.take()); d != "" {
				t.Errorf("alerts (-want +got):\n%s", d)
			}
		})
	}
}

// A key alerts once per expiry: again when its expiry changes, and its
// successor after a rotation alerts for its own.
func TestExpiryOncePerExpiry(t *testing.T) {
	keys := &expKeys{keys: []apikey.Key{expKey("k1", expNow.Add(5*24*time.Hour))}}
	raiser := &expRaiser{}
	s := newExpScanner(t, keys, raiser, nil)
	scan := func(at time.Time, want ...string) {
		t.Helper()
		if _, err := s.ScanOnce(t.Context(), at); err != nil {
			t.Fatalf("ScanOnce(%s): %v", at, err)
		}
		var got []string
		for _, a := range raiser.take() {
			got = append(got, a.Subject+" "+a.Figures)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("alerts of the scan at %s (-want +got):\n%s", at, d)
		}
	}
	scan(expNow, "key:k1 expires_at=2030-06-06T09:00:00Z days_left=5")
	scan(expNow.Add(time.Hour))
	scan(expNow.Add(24 * time.Hour))

	// Extended, still inside the notice: a new alert for the new expiry.
	keys.set(expKey("k1", expNow.Add(6*24*time.Hour)))
	scan(expNow.Add(25*time.Hour), "key:k1 expires_at=2030-06-07T09:00:00Z days_left=4")
	scan(expNow.Add(26 * time.Hour))

	// Rotated: k1 is replaced and k2 lives 7 days from now.
	k1 := expKey("k1", expNow.Add(27*time.Hour))
	k1.ReplacedBy = "k2"
	keys.set(k1)
	keys.set(expKey("k2", expNow.Add(26*time.Hour+7*24*time.Hour)))
	scan(expNow.Add(26*time.Hour), "key:k2 expires_at=2030-06-09T11:00:00Z days_left=7")
	scan(expNow.Add(48 * time.Hour))
}

// A failed Raise is not remembered: the next scan raises again.
func TestExpiryRaiseFails(t *testing.T) {
	keys := &expKeys{keys: []apikey.Key{expKey("k1", expNow.Add(24*time.Hour)), expKey("k2", expNow.Add(48*time.Hour))}}
	raiser := &expRaiser{err: errors.New("audit log down")}
	s := newExpScanner(t, keys, raiser, nil)
	n, err := s.ScanOnce(t.Context(), expNow)
	if n != 0 || err == nil {
		t.Fatalf("ScanOnce with a failing raiser = %d, %v; want 0 and an error", n, err)
	}
	for _, id := range []string{"k1", "k2"} { // one failure does not stop the others
		if want := "raise expiry alert of key " + id + ": audit log down"; !errorContains(err, want) {
			t.Errorf("ScanOnce error = %q, want it to contain %q", err, want)
		}
	}
	raiser.err = nil
	if n, err := s.ScanOnce(t.Context(), expNow.Add(time.Hour)); n != 2 || err != nil {
		t.Errorf("ScanOnce after the raiser recovered = %d, %v; want 2, nil", n, err)
	}
}

func errorContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// A listing failure raises nothing and says so; the next scan works.
func TestExpiryListFails(t *testing.T) {
	keys := &expKeys{keys: []apikey.Key{expKey("k1", expNow.Add(24*time.Hour))}, err: errors.New("store down")}
	raiser := &expRaiser{}
	s := newExpScanner(t, keys, raiser, nil)
	if n, err := s.ScanOnce(t.Context(), expNow); n != 0 || !errorContains(err, "list active keys: store down") {
		t.Errorf("ScanOnce = %d, %v; want 0 and the store's error", n, err)
	}
	keys.err = nil
	if n, err := s.ScanOnce(t.Context(), expNow); n != 1 || err != nil {
		t.Errorf("ScanOnce after the store recovered = %d, %v; want 1, nil", n, err)
	}
}

// Every page of keys is scanned.
func TestExpiryPages(t *testing.T) {
	keys := &expKeys{pageSize: 2}
	for i := range 5 {
		keys.keys = append(keys.keys, expKey(fmt.Sprintf("k%d", i), expNow.Add(time.Duration(i+1)*time.Hour)))
	}
	keys.keys = append(keys.keys, expKey("k9", expNow.Add(30*24*time.Hour)))
	raiser := &expRaiser{}
	s := newExpScanner(t, keys, raiser, nil)
	if n, err := s.ScanOnce(t.Context(), expNow); n != 5 || err != nil {
		t.Errorf("ScanOnce = %d, %v; want 5, nil", n, err)
	}
	if keys.calls != 3 {
		t.Errorf("Keys called %d times, want 3 (pages of 2 of 6 keys)", keys.calls)
	}
}

// expLedger is a ledger holding the raised expiries; err fails it.
type expLedger struct {
	raised map[apikey.ID]time.Time
	err    error
}

func (l *expLedger) Raised(_ context.Context, key apikey.ID, expiresAt time.Time) (bool, error) {
	if l.err != nil {
		return false, l.err
	}
	return l.raised[key].Equal(expiresAt), nil
}

func TestExpiryLedger(t *testing.T) {
	expires := expNow.Add(24*time.Hour + 123*time.Millisecond)
	keys := &expKeys{keys: []apikey.Key{expKey("k1", expires)}}
	tests := []struct {
		name    string
		ledger  *expLedger
		raised  int
		wantErr string
	}{
		// Compared to the second, as alert figures carry it.
		{"RaisedBefore", &expLedger{raised: map[apikey.ID]time.Time{"k1": expNow.Add(24 * time.Hour)}}, 0, ""},
		{"RaisedForAnotherExpiry", &expLedger{raised: map[apikey.ID]time.Time{"k1": expNow.Add(23 * time.Hour)}}, 1, ""},
		{"NotRaised", &expLedger{}, 1, ""},
		// An unanswered ledger skips the key rather than risk a repeat.
		{"LedgerFails", &expLedger{err: errors.New("alert store down")}, 0, "key k1: was its expiry alert raised: alert store down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raiser := &expRaiser{}
			s := newExpScanner(t, keys, raiser, tt.ledger)
			n, err := s.ScanOnce(t.Context(), expNow)
			if n != tt.raised || len(raiser.take()) != tt.raised {
				t.Errorf("ScanOnce raised %d, want %d", n, tt.raised)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !errorContains(err, tt.wantErr)) {
				t.Errorf("ScanOnce error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// alertStore is an alert store holding stored alerts; only List is used.
type alertStore struct {
	anomaly.Store
	alerts []anomaly.StoredAlert
	err    error
}

func (s *alertStore) List(_ context.Context, f anomaly.AlertFilter) ([]anomaly.StoredAlert, error) {
	if s.err != nil {
		return nil, s.err
	}
	var out []anomaly.StoredAlert
	for _, a := range s.alerts {
		if (f.Rule == "" || a.Rule == f.Rule) && (f.Subject == "" || a.Subject == f.Subject) {
			out = append(out, a)
		}
	}
	return out, nil
}

func TestAlertLedger(t *testing.T) {
	store := &alertStore{alerts: []anomaly.StoredAlert{
		{Rule: anomaly.RuleKeyExpiring, Subject: "key:k1", Figures: "expires_at=2030-06-02T09:00:00Z days_left=1"},
		{Rule: anomaly.RuleKeyExpiring, Subject: "key:k2", Figures: "expires_at=2030-06-03T09:00:00Z days_left=2"},
		{Rule: anomaly.RuleProbing, Subject: "key:k3", Figures: "expires_at=2030-06-02T09:00:00Z"},
	}}
	ledger := anomaly.AlertLedger{Store: store}
	tests := []struct {
		name    string
		key     apikey.ID
		expires time.Time
		want    bool
	}{
		{"Raised", "k1", time.Date(2030, 6, 2, 9, 0, 0, 0, time.UTC), true},
		{"RaisedOtherZone", "k1", time.Date(2030, 6, 2, 11, 0, 0, 0, time.FixedZone("CEST", 2*3600)), true},
		{"OtherExpiry", "k1", time.Date(2030, 6, 9, 9, 0, 0, 0, time.UTC), false},
		{"OtherKeysAlert", "k2", time.Date(2030, 6, 2, 9, 0, 0, 0, time.UTC), false},
		{"OtherRule", "k3", time.Date(2030, 6, 2, 9, 0, 0, 0, time.UTC), false},
		{"NoAlert", "k4", time.Date(2030, 6, 2, 9, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.Raised(t.Context(), tt.key, tt.expires)
			if got != tt.want || err != nil {
				t.Errorf("Raised(%s, %s) = %v, %v; want %v, nil", tt.key, tt.expires, got, err, tt.want)
			}
		})
	}
	store.err = errors.New("database closed")
	if _, err := ledger.Raised(t.Context(), "k1", expNow); err == nil {
		t.Error("Raised with a failing store returned no error")
	}
}

// A restarted scanner with the alert store as its ledger does not raise
// again what the previous one raised; without a ledger it does.
func TestExpiryRestart(t *testing.T) {
	keys := &expKeys{keys: []apikey.Key{expKey("k1", expNow.Add(3*24*time.Hour))}}
	store := &alertStore{}
	first := &expRaiser{}
	if n, _ := newExpScanner(t, keys, first, anomaly.AlertLedger{Store: store}).ScanOnce(t.Context(), expNow); n != 1 {
		t.Fatalf("first scanner raised %d alerts, want 1", n)
	}
	for _, a := range first.take() { // as the Dispatcher stores it
		store.alerts = append(store.alerts, anomaly.StoredAlert{Rule: a.Rule, Subject: a.Subject, Figures: a.Figures})
	}
	if n, err := newExpScanner(t, keys, &expRaiser{}, anomaly.AlertLedger{Store: store}).ScanOnce(t.Context(), expNow.Add(time.Hour)); n != 0 || err != nil {
		t.Errorf("restarted scanner with the ledger raised %d, %v; want 0, nil", n, err)
	}
	if n, _ := newExpScanner(t, keys, &expRaiser{}, nil).ScanOnce(t.Context(), expNow.Add(time.Hour)); n != 1 {
		t.Errorf("restarted scanner without a ledger raised %d, want 1 (it remembers in memory only)", n)
	}
}

// Run scans at once and then every interval, on its clock, until its
// context ends.
func TestExpiryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		// k1 enters the 7-day notice 90 minutes after start: the scan at
		// start misses it, the hourly scan at 2h raises it.
		keys := &expKeys{keys: []apikey.Key{expKey("k1", start.Add(7*24*time.Hour+90*time.Minute))}}
		raiser := &expRaiser{}
		s := anomaly.NewExpiryScanner(anomaly.ExpiryConfig{Keys: keys, Raiser: raiser})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.Run(ctx)
			close(done)
		}()
		synctest.Wait()
		if got := raiser.take(); len(got) != 0 {
			t.Errorf("first scan raised %v, want nothing", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := raiser.take(); len(got) != 0 {
			t.Errorf("scan at 1h raised %v, want nothing", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got := raiser.take()
		if len(got) != 1 || got[0].Key != "k1" || !got[0].At.Equal(start.Add(2*time.Hour)) {
			t.Errorf("scan at 2h raised %+v, want one alert about k1 at %s", got, start.Add(2*time.Hour))
		}
		if keys.calls != 3 {
			t.Errorf("%d scans in 2h, want 3", keys.calls)
		}
		cancel()
		<-done
	})
}
