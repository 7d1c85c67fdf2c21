package anomaly_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// t0 is when the tests' alerts start.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fakeAudit records alert events, or fails with err.
type fakeAudit struct {
	mu     sync.Mutex
	err    error
	events []audit.Alert
}

func (f *fakeAudit) Alert(_ context.Context, a audit.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, a)
	return nil
}

func (f *fakeAudit) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeAudit) recorded() []audit.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// fakeNotifier keeps the notices.
type fakeNotifier struct {
	mu      sync.Mutex
	notices []anomaly.Notice
}

func (f *fakeNotifier) Notify(_ context.Context, n anomaly.Notice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, n)
}

func (f *fakeNotifier) got() []anomaly.Notice {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.notices)
}

// fakeCounter counts alerts by rule.
type fakeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (f *fakeCounter) Alert(rule string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[rule]++
}

func (f *fakeCounter) get(rule string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[rule]
}

// suspension is one call of a fakeSuspender.
type suspension struct {
	key    apikey.ID
	reason string
}

// fakeSuspender keeps its calls, and fails with err.
type fakeSuspender struct {
	mu    sync.Mutex
	err   error
	calls []suspension
}

func (f *fakeSuspender) SuspendKey(_ context.Context, id apikey.ID, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, suspension{id, reason})
	return f.err
}

func (f *fakeSuspender) got() []suspension {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// principals is a PrincipalLookup of fixed principals.
type principals map[apikey.PrincipalID]string // → team

func (p principals) Principal(_ context.Context, id apikey.PrincipalID) (apikey.Principal, error) {
	team, ok := p[id]
	if !ok {
		return apikey.Principal{}, apikey.ErrNotFound
	}
	return apikey.Principal{ID: id, Team: team}, nil
}

// Key finds no key: alerts keep the principal they carry.
func (p principals) Key(context.Context, apikey.ID) (apikey.Key, error) {
	return apikey.Key{}, apikey.ErrNotFound
}

// ownedKeys is a PrincipalLookup whose keys belong to the given principals.
type ownedKeys struct {
	principals
	owners map[apikey.ID]apikey.PrincipalID
}

func (o ownedKeys) Key(_ context.Context, id apikey.ID) (apikey.Key, error) {
	p, ok := o.owners[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return apikey.Key{ID: id, Principal: p}, nil
}

// failingStore is a store whose Insert fails with err.
type failingStore struct {
	anomaly.Store
	err error
}

func (f failingStore) Insert(context.Context, anomaly.StoredAlert) (int64, error) { return 0, f.err }

// newStore returns a SQLite alert store in the test's directory.
func newStore(t *testing.T) *sqlite.AlertStore {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatalf("sqlite.Open = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlite.NewAlertStore(db)
}

// rig is a Dispatcher with fakes around a real store.
type rig struct {
	d         *anomaly.Dispatcher
	audit     *fakeAudit
	store     anomaly.Store
	notifier  *fakeNotifier
	counter   *fakeCounter
	suspender *fakeSuspender
}

// newRig returns a rig; edit changes its config before the Dispatcher is
// made.
func newRig(t *testing.T, edit func(*anomaly.DispatcherConfig)) *rig {
	t.Helper()
	r := &rig{audit: &fakeAudit{}, store: newStore(t), notifier: &fakeNotifier{}, counter: &fakeCounter{}, suspender: &fakeSuspender{}}
	cfg := anomaly.DispatcherConfig{Audit: r.audit, Store: r.store, Notifier: r.notifier, Counter: r.counter,
		Suspender: r.suspender, Principals: principals{"alice": "red", "carol": "blue"},
		Now: func() time.Time { return t0 }}
	if edit != nil {
		edit(&cfg)
	}
	r.store = cfg.Store
	r.d = anomaly.NewDispatcher(cfg)
	return r
}

func (r *rig) raise(t *testing.T, a anomaly.Alert) {
	t.Helper()
	if err := r.d.Raise(t.Context(), a); err != nil {
		t.Fatalf("Raise(%s %s) = %v", a.Rule, a.Subject, err)
	}
}

func (r *rig) stored(t *testing.T) []anomaly.StoredAlert {
	t.Helper()
	got, err := r.store.List(t.Context(), anomaly.AlertFilter{})
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	return got
}

// probing returns a probing alert about alice's key A at t0 plus d.
func probing(d time.Duration, figures string) anomaly.Alert {
	return anomaly.Alert{Rule: anomaly.RuleProbing, Subject: "key:KeyA000000000000", Principal: "alice",
		Key: "KeyA000000000000", Figures: figures, At: t0.Add(d)}
}

var sameTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// TestGrouping checks the life of a group: the first alert is recorded,
// stored, counted and notified; the repeats only count in the stored
// group; an alert after the window opens a new group.
func TestGrouping(t *testing.T) {
	r := newRig(t, nil)
	r.raise(t, probing(0, "denials=10"))
	for i := 1; i <= 5; i++ {
		r.raise(t, probing(time.Duration(i)*time.Minute, fmt.Sprintf("denials=%d", 10+i)))
	}
	wantAudit := []audit.Alert{{Rule: "probing", Subject: "key:KeyA000000000000", Principal: "alice", Figures: "denials=10"}}
	if d := cmp.Diff(wantAudit, r.audit.recorded()); d != "" {
		t.Errorf("audit events (-want +got):\n%s", d)
	}
	stored := r.stored(t)
	wantStored := []anomaly.StoredAlert{{ID: 1, Rule: "probing", Subject: "key:KeyA000000000000", Principal: "alice", Team: "red",
		Key: "KeyA000000000000", Figures: "denials=15", FirstAt: t0, LastAt: t0.Add(5 * time.Minute), Count: 6}}
	if d := cmp.Diff(wantStored, stored, sameTime); d != "" {
		t.Errorf("stored alerts (-want +got):\n%s", d)
	}
	wantNotices := []anomaly.Notice{{AlertID: 1, Rule: "probing", Subject: "key:KeyA000000000000", Principal: "alice", Team: "red",
		Key: "KeyA000000000000", Figures: "denials=10", FirstAt: t0, Count: 1}}
	if d := cmp.Diff(wantNotices, r.notifier.got(), sameTime); d != "" {
		t.Errorf("notices (-want +got):\n%s", d)
	}
	if n := r.counter.get("probing"); n != 1 {
		t.Errorf("counter = %d, want 1", n)
	}

	// The window runs from the latest alert: 14m59s after it, the group
	// is still open; 15m after, the next alert opens a new one.
	r.raise(t, probing(5*time.Minute+anomaly.DefaultGroupWindow-time.Second, "denials=20"))
	if n := len(r.audit.recorded()); n != 1 {
		t.Fatalf("an alert inside the window made %d audit events, want 1", n)
	}
	last := 5*time.Minute + anomaly.DefaultGroupWindow - time.Second
	r.raise(t, probing(last+anomaly.DefaultGroupWindow, "denials=30"))
	if n := len(r.audit.recorded()); n != 2 {
		t.Errorf("an alert after the window made %d audit events in all, want 2", n)
	}
	stored = r.stored(t)
	if len(stored) != 2 || stored[0].Count != 1 || stored[1].Count != 7 || stored[0].Figures != "denials=30" {
		t.Errorf("stored after a new group: %+v, want a new group of 1 and the old of 7", stored)
	}
	if n := len(r.notifier.got()); n != 2 {
		t.Errorf("notices = %d, want 2", n)
	}
	if n := r.counter.get("probing"); n != 2 {
		t.Errorf("counter = %d, want 2", n)
	}
}

// TestGroupKey checks which alerts share a group: same rule and subject;
// for budgets, also the same kind, threshold and window.
func TestGroupKey(t *testing.T) {
	r := newRig(t, nil)
	alerts := []anomaly.Alert{
		probing(0, "denials=10"),
		{Rule: anomaly.RuleProbing, Subject: "principal:alice", Principal: "alice", At: t0},        // another subject
		{Rule: anomaly.RuleRateSpike, Subject: "key:KeyA000000000000", Principal: "alice", At: t0}, // another rule
		{Rule: anomaly.RuleCredentialBurst, Subject: "net:10.1.2.0/24", At: t0},
		{Rule: anomaly.RuleCredentialBurst, Subject: "net:10.1.2.0/24", At: t0.Add(time.Second)}, // joins
		{Rule: anomaly.RuleBudget, Subject: "key:KeyA000000000000", At: t0,
			Figures: "kind=tokens_per_day threshold_pct=80 used=8000 max=10000 window=2026-11-28"},
		{Rule: anomaly.RuleBudget, Subject: "key:KeyA000000000000", At: t0.Add(time.Minute), // another threshold
			Figures: "kind=tokens_per_day threshold_pct=100 used=10000 max=10000 window=2026-11-28"},
		{Rule: anomaly.RuleBudget, Subject: "key:KeyA000000000000", At: t0.Add(time.Minute), // another kind
			Figures: "kind=cost_per_day threshold_pct=80 used=8 max=10 window=2026-11-28"},
		{Rule: anomaly.RuleBudget, Subject: "key:KeyA000000000000", At: t0.Add(2 * time.Minute), // joins the first
			Figures: "kind=tokens_per_day threshold_pct=80 used=8100 max=10000 window=2026-11-28"},
	}
	for _, a := range alerts {
		r.raise(t, a)
	}
	if n := len(r.audit.recorded()); n != 7 {
		t.Errorf("%d alerts made %d audit events, want 7", len(alerts), n)
	}
	if n := len(r.stored(t)); n != 7 {
		t.Errorf("%d alerts made %d stored groups, want 7", len(alerts), n)
	}
}

// TestBudgetAlert checks the limiter's path: an audit.Alert becomes an
// alert at the dispatcher's clock, about the key of its subject.
func TestBudgetAlert(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleBudget: anomaly.ActionSuspendKey}
	})
	a := audit.Alert{Rule: "budget", Subject: "key:KeyA000000000000", Principal: "alice",
		Figures: "kind=tokens_per_day threshold_pct=100 used=10000 max=10000 window=2026-11-28"}
	if err := r.d.Alert(t.Context(), a); err != nil {
		t.Fatalf("Alert = %v", err)
	}
	if err := r.d.Alert(t.Context(), audit.Alert{Rule: "budget", Subject: "principal:carol", Principal: "carol",
		Figures: "kind=cost_per_month threshold_pct=80 used=8 max=10 window=2026-11"}); err != nil {
		t.Fatalf("Alert = %v", err)
	}
	if d := cmp.Diff([]audit.Alert{a, {Rule: "budget", Subject: "principal:carol", Principal: "carol",
		Figures: "kind=cost_per_month threshold_pct=80 used=8 max=10 window=2026-11"}}, r.audit.recorded()); d != "" {
		t.Errorf("audit events (-want +got):\n%s", d)
	}
	stored := r.stored(t)
	if len(stored) != 2 || stored[1].Key != "KeyA000000000000" || stored[0].Key != "" || !stored[1].FirstAt.Equal(t0) || stored[0].Team != "blue" {
		t.Errorf("stored = %+v, want the key's alert with its key, the principal's without, at t0", stored)
	}
	// The action applies to the alert about a key only.
	if d := cmp.Diff([]suspension{{"KeyA000000000000", "anomaly.budget"}}, r.suspender.got(), cmp.AllowUnexported(suspension{})); d != "" {
		t.Errorf("suspensions (-want +got):\n%s", d)
	}
}

// TestSuspendAction checks that a rule's suspend_key action runs once per
// group, on the alert's key, and shows in the notice.
func TestSuspendAction(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleProbing: anomaly.ActionSuspendKey}
	})
	r.raise(t, probing(0, "denials=10"))
	r.raise(t, probing(time.Minute, "denials=20"))
	// No key: nothing to suspend. Another rule: no action.
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleProbing, Subject: "principal:alice", Principal: "alice", At: t0})
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleRateSpike, Subject: "key:KeyC000000000000", Key: "KeyC000000000000", At: t0})
	if d := cmp.Diff([]suspension{{"KeyA000000000000", "anomaly.probing"}}, r.suspender.got(), cmp.AllowUnexported(suspension{})); d != "" {
		t.Errorf("suspensions (-want +got):\n%s", d)
	}
	var actions []string
	for _, n := range r.notifier.got() {
		actions = append(actions, n.Action)
	}
	if d := cmp.Diff([]string{anomaly.ActionSuspendKey, "", ""}, actions); d != "" {
		t.Errorf("notice actions (-want +got):\n%s", d)
	}
}

// TestSuspendFails checks that a failed action is reported while the
// alert is still recorded, stored and notified, without the action.
func TestSuspendFails(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleProbing: anomaly.ActionSuspendKey}
	})
	r.suspender.err = apikey.ErrUnrecorded
	err := r.d.Raise(t.Context(), probing(0, "denials=10"))
	if !errors.Is(err, apikey.ErrUnrecorded) {
		t.Errorf("Raise = %v, want the suspender's error", err)
	}
	if len(r.audit.recorded()) != 1 || len(r.stored(t)) != 1 {
		t.Errorf("a failed action left %d audit events and %d stored alerts, want 1 and 1", len(r.audit.recorded()), len(r.stored(t)))
	}
	if n := r.notifier.got(); len(n) != 1 || n[0].Action != "" {
		t.Errorf("notices = %+v, want one without an action", n)
	}
}

// TestAuditFails checks that an alert the audit log refuses does nothing
// else, and that the next alert of the subject tries again.
func TestAuditFails(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleProbing: anomaly.ActionSuspendKey}
	})
	r.audit.setErr(audit.ErrClosed)
	if err := r.d.Raise(t.Context(), probing(0, "denials=10")); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Raise with the audit log closed = %v, want audit.ErrClosed", err)
	}
	if len(r.stored(t)) != 0 || len(r.notifier.got()) != 0 || len(r.suspender.got()) != 0 || r.counter.get("probing") != 0 {
		t.Errorf("an unrecorded alert was stored, notified, acted on or counted")
	}
	r.audit.setErr(nil)
	r.raise(t, probing(time.Second, "denials=11"))
	if len(r.audit.recorded()) != 1 || len(r.stored(t)) != 1 || len(r.notifier.got()) != 1 || len(r.suspender.got()) != 1 {
		t.Errorf("the next alert did not open the group")
	}
}

// TestStoreFails checks that an alert the store refuses is still recorded
// and notified (without an id), and that its repeats are still grouped.
func TestStoreFails(t *testing.T) {
	errDown := errors.New("database down")
	r := newRig(t, func(c *anomaly.DispatcherConfig) { c.Store = failingStore{c.Store, errDown} })
	if err := r.d.Raise(t.Context(), probing(0, "denials=10")); !errors.Is(err, errDown) {
		t.Errorf("Raise = %v, want the store's error", err)
	}
	r.raise(t, probing(time.Second, "denials=11"))
	if len(r.audit.recorded()) != 1 {
		t.Errorf("audit events = %d, want 1", len(r.audit.recorded()))
	}
	if n := r.notifier.got(); len(n) != 1 || n[0].AlertID != 0 {
		t.Errorf("notices = %+v, want one without an alert id", n)
	}
}

// TestTeam checks that the stored alert carries the principal's team, and
// no team for an unknown principal or a network.
func TestTeam(t *testing.T) {
	r := newRig(t, nil)
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleProbing, Subject: "principal:carol", Principal: "carol", At: t0})
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleProbing, Subject: "principal:zed", Principal: "zed", At: t0})
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleCredentialBurst, Subject: "net:10.0.0.0/24", At: t0})
	var teams []string
	for _, a := range r.stored(t) {
		teams = append(teams, a.Team)
	}
	if d := cmp.Diff([]string{"", "", "blue"}, teams); d != "" {
		t.Errorf("teams, newest first (-want +got):\n%s", d)
	}
}

// TestConcurrentRaise checks that alerts of one subject raised at once
// make one group, recorded once, counting each.
func TestConcurrentRaise(t *testing.T) {
	r := newRig(t, nil)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- r.d.Raise(t.Context(), probing(time.Duration(i)*time.Millisecond, "denials=10")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Raise = %v", err)
		}
	}
	if len(r.audit.recorded()) != 1 || len(r.notifier.got()) != 1 {
		t.Errorf("%d concurrent alerts: %d audit events, %d notices; want 1 and 1", n, len(r.audit.recorded()), len(r.notifier.got()))
	}
	if s := r.stored(t); len(s) != 1 || s[0].Count != n {
		t.Errorf("stored = %+v, want one group of %d", s, n)
	}
}

// TestBoundedGroups checks that the groups remembered stay below
// MaxGroups however many subjects alert, and that closed groups are
// forgotten.
func TestBoundedGroups(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.MaxGroups = 100
		c.Store, c.Notifier, c.Counter, c.Suspender, c.Principals = nil, nil, nil, nil, nil
	})
	for i := range 10_000 {
		r.raise(t, anomaly.Alert{Rule: anomaly.RuleCredentialBurst, Subject: fmt.Sprintf("net:10.%d.%d.0/24", i/256, i%256),
			At: t0.Add(time.Duration(i) * time.Millisecond)})
		if g := r.d.Groups(); g > 100 {
			t.Fatalf("after %d subjects, %d groups are remembered; want at most 100", i+1, g)
		}
	}
	// Once the window has passed, the next alert forgets every closed
	// group.
	r.raise(t, anomaly.Alert{Rule: anomaly.RuleProbing, Subject: "key:KeyA000000000000", At: t0.Add(time.Hour)})
	if g := r.d.Groups(); g != 1 {
		t.Errorf("after the window, %d groups are remembered; want 1", g)
	}
}

func TestGroupWindowConfig(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) { c.GroupWindow = time.Minute })
	r.raise(t, probing(0, "denials=10"))
	r.raise(t, probing(59*time.Second, "denials=10"))
	r.raise(t, probing(119*time.Second, "denials=10")) // 60s after the latest: a new group
	if n := len(r.audit.recorded()); n != 2 {
		t.Errorf("with a 1m window: %d audit events, want 2", n)
	}
}

func TestRaiseInvalid(t *testing.T) {
	r := newRig(t, nil)
	for _, a := range []anomaly.Alert{
		{Rule: "", Subject: "key:x"},
		{Rule: "Probing", Subject: "key:x"},
		{Rule: "probing.x", Subject: "key:x"},
		{Rule: "probing", Subject: ""},
	} {
		if err := r.d.Raise(t.Context(), a); err == nil {
			t.Errorf("Raise(rule %q subject %q) = nil, want an error", a.Rule, a.Subject)
		}
	}
	if len(r.audit.recorded()) != 0 {
		t.Errorf("invalid alerts were recorded")
	}
}

func TestValidateActions(t *testing.T) {
	for _, tt := range []struct {
		name    string
		actions map[string]string
		wantErr string
	}{
		{"None", nil, ""},
		{"Suspend", map[string]string{"probing": "suspend_key", "rate_spike": "suspend_key", "budget": ""}, ""},
		{"UnknownRule", map[string]string{"probbing": "suspend_key"}, `unknown rule "probbing"`},
		{"UnknownAction", map[string]string{"probing": "revoke_key"}, `unknown action "revoke_key"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := anomaly.ValidateActions(tt.actions)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateActions = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ValidateActions = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestFailedActionRetried checks that a suspend that failed is tried again
// by the next alert of its group, and only until it succeeds: a key that
// keeps probing is suspended as soon as the store answers.
func TestFailedActionRetried(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleProbing: anomaly.ActionSuspendKey}
	})
	r.suspender.mu.Lock()
	r.suspender.err = errors.New("store unreachable")
	r.suspender.mu.Unlock()
	if err := r.d.Raise(t.Context(), probing(0, "denials=10")); err == nil {
		t.Fatal("Raise with a failing suspender = nil, want the action's error")
	}
	r.raise(t, probing(time.Minute, "denials=11")) // still failing: tried again
	r.suspender.mu.Lock()
	r.suspender.err = nil
	r.suspender.mu.Unlock()
	r.raise(t, probing(2*time.Minute, "denials=12")) // succeeds
	r.raise(t, probing(3*time.Minute, "denials=13")) // nothing owed any more
	if got := len(r.suspender.got()); got != 3 {
		t.Errorf("SuspendKey called %d times, want 3 (two failures, one success)", got)
	}
}

// TestBudgetAlertOfFeatureSuspendsItsKey checks that a per-feature
// budget's alert, subject "key:<id>/feature:<name>", is about the key <id>.
func TestBudgetAlertOfFeatureSuspendsItsKey(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Actions = map[string]string{anomaly.RuleBudget: anomaly.ActionSuspendKey}
	})
	err := r.d.Alert(t.Context(), audit.Alert{Rule: "budget", Subject: "key:KeyA000000000000/feature:chatbot", Principal: "alice",
		Figures: "kind=tokens_per_day threshold_pct=100 used=10 max=10 window=2026-11-28"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.suspender.got(); len(got) != 1 || got[0].key != "KeyA000000000000" {
		t.Errorf("suspensions = %+v, want one of KeyA000000000000", got)
	}
}

// TestPseudonymizedPrincipal checks that an alert raised from an event
// whose principal is a pseudonym keeps the pseudonym in the audit log but
// is stored under the key's real principal and team, so that the
// principal's own admins see it.
func TestPseudonymizedPrincipal(t *testing.T) {
	r := newRig(t, func(c *anomaly.DispatcherConfig) {
		c.Principals = ownedKeys{principals{"alice": "red"}, map[apikey.ID]apikey.PrincipalID{"KeyA000000000000": "alice"}}
	})
	a := probing(0, "denials=10")
	a.Principal = "p_0123456789abcdef"
	r.raise(t, a)
	if got := r.audit.recorded(); len(got) != 1 || got[0].Principal != "p_0123456789abcdef" {
		t.Errorf("audit events = %+v, want the pseudonym", got)
	}
	if got := r.stored(t); len(got) != 1 || got[0].Principal != "alice" || got[0].Team != "red" {
		t.Errorf("stored = %+v, want alice of team red", got)
	}
}
